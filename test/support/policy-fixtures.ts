/**
 * What the disk backup policy API tests share: the operations (by their path in the official document,
 * which is also the literal-placeholder path clients call) and the constants their expectations use.
 */

/** The operations, by their path in the official document (also the literal-placeholder path clients call). */
export const OP = {
  listForOrganization: { method: 'GET', path: '/organizations/organization/disk_backup_policies' },
  listForVirtualMachine: { method: 'GET', path: '/virtual_machines/virtual_machine/disk_backup_policies' },
  listForDisk: { method: 'GET', path: '/disks/disk/disk_backup_policies' },
  createForDisk: { method: 'POST', path: '/disks/disk/disk_backup_policies' },
  createForVirtualMachine: { method: 'POST', path: '/virtual_machines/virtual_machine/disk_backup_policies' },
  get: { method: 'GET', path: '/disk_backup_policies/disk_backup_policy' },
  update: { method: 'PATCH', path: '/disk_backup_policies/disk_backup_policy' },
  delete: { method: 'DELETE', path: '/disk_backup_policies/disk_backup_policy' },
  scheduleDelete: { method: 'DELETE', path: '/disk_backup_policies/disk_backup_policy/schedule' },
  getTrashObject: { method: 'GET', path: '/trash_objects/trash_object' },
  listTrashObjects: { method: 'GET', path: '/organizations/organization/trash_objects' },
  restoreTrashObject: { method: 'POST', path: '/trash_objects/trash_object/restore' },
  purgeTrashObject: { method: 'DELETE', path: '/trash_objects/trash_object' },
  purgeAllTrashObjects: { method: 'POST', path: '/organizations/organization/trash_objects/purge_all' },
} as const;
export type Operation = (typeof OP)[keyof typeof OP];

/** How long a deleted object stays in the trash (two days). */
export const TRASH_SECONDS = 172800;
