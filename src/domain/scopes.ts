/**
 * The scopes an API token may hold. Read endpoints accept the manage scope or its `:read` form;
 * writes need the manage scope. OAuth2 spells them with the prefix below.
 */
export const ALL_SCOPES = [
  'organizations:read',
  'disk_backup_policies',
  'disk_backup_policies:read',
  'disks',
  'disks:read',
  'virtual_machines',
  'virtual_machines:read',
  'trash_objects:read',
  'trash_objects:restore',
  'trash_objects:purge',
  'api_tokens',
  'api_tokens:read',
] as const;

export type Scope = (typeof ALL_SCOPES)[number];

export const OAUTH2_SCOPE_PREFIX = 'api.katapult.io/core/v1/';

export function isScope(name: string): name is Scope {
  return (ALL_SCOPES as readonly string[]).includes(name);
}
