import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * What a backup of an RBD disk (docs/RBD.md) records beside its row:
 * - `source_snapshot`: the RBD snapshot it was read from (kept as the base of the disk's next backup);
 * - `read_mode`: `full` (every allocated extent read) or `incremental` (only the extents RBD says
 *   changed since `base_backup_id`'s snapshot); null for a file or block-device disk;
 * - `base_backup_id`: the backup an incremental took its unchanged chunks from;
 * - `read_note`: why a full read was made where an incremental was asked for (base snapshot gone,
 *   previous backup failed verification, image resized), null otherwise;
 * - `snapshot_group`: the RBD group snapshot (`POOL/GROUP@NAME`) the backups of one virtual machine's
 *   disks were read from, taken at one instant (the same on each of them); null for a disk's own snapshot.
 */
export async function up(db: Kysely<any>, _context: MigrationContext): Promise<void> {
  // One column per statement: SQLite's ALTER TABLE adds one at a time.
  await db.schema.alterTable('backups').addColumn('source_snapshot', 'text').execute();
  await db.schema.alterTable('backups').addColumn('read_mode', 'text').execute();
  await db.schema.alterTable('backups').addColumn('base_backup_id', 'text').execute();
  await db.schema.alterTable('backups').addColumn('read_note', 'text').execute();
  await db.schema.alterTable('backups').addColumn('snapshot_group', 'text').execute();
}
