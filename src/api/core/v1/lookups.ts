/**
 * Lookup argument sets: how a request names an organization, virtual machine, disk, policy or trash
 * object, and how each is found. Every lookup applies the same checks in the same order:
 * not found (404) → another organization's (403 permission_denied, nothing more revealed) → in the trash (406).
 */
import { ApiError, fail, type ErrorDefinition } from '../../framework/errors.js';
import { StringScalar } from '../../framework/scalars.js';
import { lookup, type LookupContext } from '../../framework/types.js';
import type { DiskRecord, OrganizationRecord, VirtualMachineRecord } from '../../../services/inventory.js';
import type { PolicyRecord, TrashObjectSummary } from '../../../services/policies.js';
import type { TokenRecord } from '../../../services/tokens.js';
import type { TrashObject } from '../../../store/schema.js';
import {
  ApiTokenNotFound,
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

/**
 * Finds nothing for a value holding NUL: no stored key holds one, and PostgreSQL refuses NUL in text
 * parameters (the query would fail with a 500 instead of answering not found).
 */
export function findUnlessNul<T>(values: Record<string, string | null>, find: () => Promise<T | null>): Promise<T | null> {
  return Object.values(values).some((value) => value?.includes('\u0000')) ? Promise.resolve(null) : find();
}

/** The checks every found object goes through, in order. */
export async function guard<T>(
  found: T | null,
  notFound: ErrorDefinition,
  ownership: (record: T) => { organizationId: string; objectId: string | null },
  context: LookupContext,
): Promise<T> {
  if (found === null) return fail(notFound);
  const { organizationId, objectId } = ownership(found);
  if (organizationId !== context.identity.organizationId) {
    throw new ApiError(PermissionDenied, { details: 'The object belongs to an organization this API token cannot act for' });
  }
  if (objectId !== null) {
    // A record read with its trash object (a policy) says so; for others the trash is asked.
    const known = (found as { trashObject?: TrashObjectSummary | null }).trashObject;
    const trashObject = known !== undefined ? known : await context.services.trash.find({ object_id: objectId });
    if (trashObject) throw new ApiError(ObjectInTrash, { trash_object: trashObjectDetail(trashObject) });
  }
  return found;
}

export function trashObjectDetail(trashObject: TrashObjectSummary) {
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
    const found = await findUnlessNul(values, () => context.services.inventory.findOrganization(values));
    const organization = await guard(found, OrganizationNotFound, (o) => ({ organizationId: o.id, objectId: null }), context);
    if (organization.suspended === 1) fail(OrganizationSuspended);
    return organization;
  },
});

/** A lookup of an object that belongs to an organization and may be in the trash. */
function ownedObjectLookup<T extends { id: string; organization_id: string }>(definition: {
  name: string;
  description: string;
  keys: readonly string[];
  notFound: ErrorDefinition;
  find: (values: Record<string, string | null>, services: LookupContext['services']) => Promise<T | null>;
}) {
  return lookup<T>({
    id: `CoreAPI/ArgumentSets/${definition.name}`,
    name: definition.name,
    description: definition.description,
    arguments: Object.fromEntries(definition.keys.map((key) => [key, lookupKey])),
    errors: [definition.notFound, PermissionDenied, ObjectInTrash],
    async resolve(values, context) {
      const found = await findUnlessNul(values, () => definition.find(values, context.services));
      return guard(found, definition.notFound, (o) => ({ organizationId: o.organization_id, objectId: o.id }), context);
    },
  });
}

export const VirtualMachineLookup = ownedObjectLookup<VirtualMachineRecord>({
  name: 'VirtualMachineLookup',
  description: 'Provides for virtual machines to be looked up',
  keys: ['id', 'fqdn'],
  notFound: VirtualMachineNotFound,
  find: (values, services) => services.inventory.findVirtualMachine(values),
});

export const DiskLookup = ownedObjectLookup<DiskRecord>({
  name: 'DiskLookup',
  description: 'Provides for disks to be looked up',
  keys: ['id'],
  notFound: DiskNotFound,
  find: (values, services) => services.inventory.findDisk(values),
});

export const DiskBackupPolicyLookup = ownedObjectLookup<PolicyRecord>({
  name: 'DiskBackupPolicyLookup',
  description: 'Provides for disk backup policies to be looked up',
  keys: ['id'],
  notFound: DiskBackupPolicyNotFound,
  find: (values, services) => services.policies.find(values.id ?? null),
});

export const TrashObjectLookup = lookup<TrashObject>({
  id: 'CoreAPI/ArgumentSets/TrashObjectLookup',
  name: 'TrashObjectLookup',
  description: 'Provides for trash objects to be looked up',
  arguments: { id: lookupKey, object_id: lookupKey },
  errors: [TrashObjectNotFound, PermissionDenied],
  async resolve(values, context) {
    const found = await findUnlessNul(values, () => context.services.trash.find(values));
    return guard(found, TrashObjectNotFound, (t) => ({ organizationId: t.organization_id, objectId: null }), context);
  },
});

export const ApiTokenLookup = lookup<TokenRecord>({
  id: 'CoreAPI/ArgumentSets/APITokenLookup',
  name: 'APITokenLookup',
  description: 'Provides for API tokens to be looked up',
  arguments: { id: lookupKey },
  errors: [ApiTokenNotFound, PermissionDenied],
  async resolve(values, context) {
    const found = await findUnlessNul(values, () => (values.id ? context.services.tokens.find(values.id) : Promise.resolve(null)));
    return guard(found, ApiTokenNotFound, (t) => ({ organizationId: t.organization_id, objectId: null }), context);
  },
});
