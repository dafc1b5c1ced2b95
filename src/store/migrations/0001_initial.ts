import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/** The inventory (organizations, data centres, virtual machines, disks), policies, trash, tasks and tokens. */
export async function up(db: Kysely<any>, { pkType }: MigrationContext): Promise<void> {
  /** A table whose integer `pk` numbers rows in creation order. */
  const table = (name: string): CreateTableBuilder<string, 'pk'> =>
    db.schema.createTable(name).addColumn('pk', pkType, (c) => c.primaryKey());

  await db.schema
    .createTable('countries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('iso_code2', 'text', (c) => c.notNull())
    .addColumn('iso_code3', 'text', (c) => c.notNull())
    .addColumn('time_zone', 'text')
    .addColumn('eu', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable('currencies')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('iso_code', 'text', (c) => c.notNull().unique())
    .addColumn('symbol', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('data_centers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('permalink', 'text', (c) => c.notNull().unique())
    .addColumn('country_id', 'text', (c) => c.notNull().references('countries.id'))
    .execute();

  await db.schema
    .createTable('zones')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('permalink', 'text', (c) => c.notNull().unique())
    .addColumn('data_center_id', 'text', (c) => c.notNull().references('data_centers.id'))
    .execute();

  await table('organizations')
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('sub_domain', 'text', (c) => c.notNull().unique())
    .addColumn('infrastructure_domain', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('activated_at', 'bigint')
    .addColumn('suspended', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('managed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('billing_name', 'text')
    .addColumn('address1', 'text')
    .addColumn('address2', 'text')
    .addColumn('address3', 'text')
    .addColumn('address4', 'text')
    .addColumn('postcode', 'text')
    .addColumn('vat_number', 'text')
    .addColumn('phone_number', 'text')
    .addColumn('currency_id', 'text', (c) => c.notNull().references('currencies.id'))
    .addColumn('country_id', 'text', (c) => c.references('countries.id'))
    .execute();

  await table('virtual_machines')
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('zone_id', 'text', (c) => c.notNull().references('zones.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('hostname', 'text', (c) => c.notNull())
    .addColumn('fqdn', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('memory_in_gb', 'integer')
    .addColumn('cpu_cores', 'integer')
    .execute();
  await db.schema.createIndex('virtual_machines_by_organization').on('virtual_machines').columns(['organization_id', 'pk']).execute();

  await table('disks')
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('data_center_id', 'text', (c) => c.notNull().references('data_centers.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('size_in_gb', 'integer', (c) => c.notNull())
    .addColumn('wwn', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('storage_speed', 'text', (c) => c.notNull())
    .addColumn('image_path', 'text')
    .execute();
  await db.schema.createIndex('disks_by_organization').on('disks').columns(['organization_id', 'pk']).execute();

  await db.schema
    .createTable('virtual_machine_disks')
    .addColumn('disk_id', 'text', (c) => c.primaryKey().references('disks.id'))
    .addColumn('virtual_machine_id', 'text', (c) => c.notNull().references('virtual_machines.id'))
    .addColumn('attach_on_boot', 'integer', (c) => c.notNull())
    .addColumn('boot', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('virtual_machine_disks_by_vm').on('virtual_machine_disks').column('virtual_machine_id').execute();

  await table('disk_backup_policies')
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('target_type', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text', (c) => c.notNull())
    .addColumn('retention', 'integer', (c) => c.notNull())
    .addColumn('total_size_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('schedule_interval', 'text', (c) => c.notNull())
    .addColumn('schedule_frequency', 'integer', (c) => c.notNull())
    .addColumn('schedule_time', 'integer', (c) => c.notNull())
    .addColumn('schedule_minute', 'integer', (c) => c.notNull())
    .addColumn('schedule_anchor_at', 'bigint', (c) => c.notNull())
    .addColumn('next_invocation_at', 'bigint', (c) => c.notNull())
    .addColumn('auto_move_to_trash_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('policies_by_organization').on('disk_backup_policies').columns(['organization_id', 'pk']).execute();
  await db.schema.createIndex('policies_by_target').on('disk_backup_policies').columns(['target_id', 'pk']).execute();
  await db.schema.createIndex('policies_by_next_invocation').on('disk_backup_policies').column('next_invocation_at').execute();

  await table('trash_objects')
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('object_type', 'text', (c) => c.notNull())
    .addColumn('object_id', 'text', (c) => c.notNull().unique())
    .addColumn('keep_until', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('trash_objects_by_organization').on('trash_objects').columns(['organization_id', 'pk']).execute();
  await db.schema.createIndex('trash_objects_by_keep_until').on('trash_objects').column('keep_until').execute();

  await table('tasks')
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .addColumn('progress', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  await table('api_tokens')
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('authorized_ip_addresses', 'text', (c) => c.notNull().defaultTo(sql.lit('[]')))
    .addColumn('expires_at', 'bigint')
    .addColumn('rate_limit', 'integer', (c) => c.notNull().defaultTo(1000))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .execute();
}
