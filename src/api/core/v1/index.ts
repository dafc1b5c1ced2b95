/** Every endpoint of the Core API v1 this product serves, in one list for the router and the OpenAPI document. */
import type { EndpointDefinition } from '../../framework/endpoint.js';
import createApiToken from './api-tokens/create.js';
import deleteApiToken from './api-tokens/delete.js';
import listApiTokens from './api-tokens/list.js';
import regenerateApiTokenSecret from './api-tokens/regenerate-secret.js';
import updateApiToken from './api-tokens/update.js';
import createPolicyForDisk from './disk-backup-policies/create-for-disk.js';
import createPolicyForVirtualMachine from './disk-backup-policies/create-for-virtual-machine.js';
import deletePolicy from './disk-backup-policies/delete.js';
import policyInfo from './disk-backup-policies/info.js';
import listPoliciesForDisk from './disk-backup-policies/list-for-disk.js';
import listPoliciesForVirtualMachine from './disk-backup-policies/list-for-virtual-machine.js';
import listPolicies from './disk-backup-policies/list.js';
import scheduleDeletePolicy from './disk-backup-policies/schedule-delete.js';
import updatePolicy from './disk-backup-policies/update.js';
import diskInfo from './disks/info.js';
import listDisksForVirtualMachine from './disks/list-for-virtual-machine.js';
import listDisks from './disks/list.js';
import organizationInfo from './organizations/info.js';
import listOrganizations from './organizations/list.js';
import trashObjectInfo from './trash-objects/info.js';
import listTrashObjects from './trash-objects/list.js';
import purgeAllTrashObjects from './trash-objects/purge-all.js';
import purgeTrashObject from './trash-objects/purge.js';
import restoreTrashObject from './trash-objects/restore.js';
import virtualMachineInfo from './virtual-machines/info.js';
import listVirtualMachines from './virtual-machines/list.js';

export { AUTHENTICATION_ERRORS } from './errors.js';

export const coreEndpoints: readonly EndpointDefinition[] = [
  // Organizations
  listOrganizations,
  organizationInfo,
  // Disks
  listDisks,
  diskInfo,
  listDisksForVirtualMachine,
  // Virtual machines
  listVirtualMachines,
  virtualMachineInfo,
  // Disk backup policies
  listPolicies,
  listPoliciesForVirtualMachine,
  listPoliciesForDisk,
  policyInfo,
  createPolicyForDisk,
  createPolicyForVirtualMachine,
  updatePolicy,
  deletePolicy,
  scheduleDeletePolicy,
  // Trash objects
  listTrashObjects,
  trashObjectInfo,
  restoreTrashObject,
  purgeTrashObject,
  purgeAllTrashObjects,
  // API tokens
  listApiTokens,
  createApiToken,
  updateApiToken,
  deleteApiToken,
  regenerateApiTokenSecret,
];
