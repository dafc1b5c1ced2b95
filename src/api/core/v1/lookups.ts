/**
 * Lookup argument sets: how a request names an organization, virtual machine, disk, policy or trash
 * object, and how each is found. Every lookup applies the same checks in the same order:
 * not found (404) → another organization's (403 permission_denied, nothing more revealed) → in the trash (406).
 */
import { ApiError, fail } from '../../framework/errors.js';
import { StringScalar } from '../../framework/scalars.js';
import { lookup, type LookupContext } from '../../framework/types.js';
import type { DiskRecord, OrganizationRecord, VirtualMachineRecord } from '../../../services/inventory.js';
import type { PolicyRecord } from '../../../services/policies.js';
import type { TrashObject } from '../../../store/schema.js';
import {
  DiskBackupPolicyNotFound,
  DiskNotFound,
  ObjectInTrash,
  OrganizationNotFound,
  OrganizationSuspended,
  PermissionDenied,
  TrashObjectNotFound,
  VirtualMachineNotFound,
} from './errors.js';

const lookupKey = { type: StringScalar } as const;

/** The checks every found object goes through, in order. */
async function guard<T>(
  found: T | null,
  notFound: Parameters<typeof fail>[0],
  ownership: (record: T) => { organizationId: string; objectId: string | null },
  context: LookupContext,
): Promise<T> {
  if (found === null) return fail(notFound);
  const { organizationId, objectId } = ownership(found);
  if (organizationId !== context.identity.organizationId) {
    throw new ApiError(PermissionDenied, { details: 'The object belongs to an organization this API token cannot act for' });
  }
  if (objectId !== null) {
    const trashObject = await context.services.trash.find({ object_id: objectId });
    if (trashObject) throw new ApiError(ObjectInTrash, { trash_object: trashObjectDetail(trashObject) });
  }
  return found;
}

export function trashObjectDetail(trashObject: TrashObject) {
  return {
    id: trashObject.id,
    keep_until: trashObject.keep_until,
    object_id: trashObject.object_id,
    object_type: trashObject.object_type,
  };
}

export const OrganizationLookup = lookup<OrganizationRecord>({
  id: 'CoreAPI/ArgumentSets/OrganizationLookup',
  name: 'OrganizationLookup',
  description: 'Provides for organizations to be looked up',
  arguments: { id: lookupKey, sub_domain: lookupKey },
  errors: [OrganizationNotFound, OrganizationSuspended, PermissionDenied],
  async resolve(values, context) {
    const found = await context.services.inventory.findOrganization(values);
    const organization = await guard(found, OrganizationNotFound, (o) => ({ organizationId: o.id, objectId: null }), context);
    if (organization.suspended === 1) fail(OrganizationSuspended);
    return organization;
  },
});

export const VirtualMachineLookup = lookup<VirtualMachineRecord>({
  id: 'CoreAPI/ArgumentSets/VirtualMachineLookup',
  name: 'VirtualMachineLookup',
  description: 'Provides for virtual machines to be looked up',
  arguments: { id: lookupKey, fqdn: lookupKey },
  errors: [VirtualMachineNotFound, PermissionDenied, ObjectInTrash],
  async resolve(values, context) {
    const found = await context.services.inventory.findVirtualMachine(values);
    return guard(found, VirtualMachineNotFound, (vm) => ({ organizationId: vm.organization_id, objectId: vm.id }), context);
  },
});

export const DiskLookup = lookup<DiskRecord>({
  id: 'CoreAPI/ArgumentSets/DiskLookup',
  name: 'DiskLookup',
  description: 'Provides for disks to be looked up',
  arguments: { id: lookupKey },
  errors: [DiskNotFound, PermissionDenied, ObjectInTrash],
  async resolve(values, context) {
    const found = await context.services.inventory.findDisk(values);
    return guard(found, DiskNotFound, (disk) => ({ organizationId: disk.organization_id, objectId: disk.id }), context);
  },
});

export const DiskBackupPolicyLookup = lookup<PolicyRecord>({
  id: 'CoreAPI/ArgumentSets/DiskBackupPolicyLookup',
  name: 'DiskBackupPolicyLookup',
  description: 'Provides for disk backup policies to be looked up',
  arguments: { id: lookupKey },
  errors: [DiskBackupPolicyNotFound, PermissionDenied, ObjectInTrash],
  async resolve(values, context) {
    const found = await context.services.policies.find(values.id ?? null);
    return guard(found, DiskBackupPolicyNotFound, (p) => ({ organizationId: p.organization_id, objectId: p.id }), context);
  },
});

export const TrashObjectLookup = lookup<TrashObject>({
  id: 'CoreAPI/ArgumentSets/TrashObjectLookup',
  name: 'TrashObjectLookup',
  description: 'Provides for trash objects to be looked up',
  arguments: { id: lookupKey, object_id: lookupKey },
  errors: [TrashObjectNotFound, PermissionDenied],
  async resolve(values, context) {
    const found = await context.services.trash.find(values);
    return guard(found, TrashObjectNotFound, (t) => ({ organizationId: t.organization_id, objectId: null }), context);
  },
});
