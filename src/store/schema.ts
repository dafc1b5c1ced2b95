/**
 * The database's tables as Kysely sees them. Types flow from here to every query.
 * Conventions that keep SQLite and PostgreSQL identical: times are integer Unix seconds (bigint),
 * booleans are integers 0/1, lists are JSON text, every table has an integer `pk` that orders rows
 * in creation order (pagination is stable and the same on both engines), public ids are `<prefix>_…`.
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type Pk = Generated<number>;
/** 0 or 1 */
type Flag = number;

export interface CountriesTable {
  id: string;
  name: string;
  iso_code2: string;
  iso_code3: string;
  time_zone: string | null;
  eu: Flag;
}

export interface CurrenciesTable {
  id: string;
  name: string;
  iso_code: string;
  symbol: string;
}

export interface DataCentersTable {
  id: string;
  name: string;
  permalink: string;
  country_id: string;
}

export interface ZonesTable {
  id: string;
  name: string;
  permalink: string;
  data_center_id: string;
}

export interface OrganizationsTable {
  pk: Pk;
  id: string;
  name: string;
  sub_domain: string;
  infrastructure_domain: string;
  created_at: number;
  activated_at: number | null;
  suspended: Flag;
  managed: Flag;
  billing_name: string | null;
  address1: string | null;
  address2: string | null;
  address3: string | null;
  address4: string | null;
  postcode: string | null;
  vat_number: string | null;
  phone_number: string | null;
  currency_id: string;
  country_id: string | null;
  /** Bumped by triggers whenever anything the organization's API answers are made from changes. */
  generation: ColumnType<number, number | undefined, number>;
}

export interface VirtualMachinesTable {
  pk: Pk;
  id: string;
  organization_id: string;
  zone_id: string;
  name: string;
  hostname: string;
  fqdn: string;
  description: string | null;
  created_at: number;
  state: string;
  memory_in_gb: number | null;
  cpu_cores: number | null;
}

export interface DisksTable {
  pk: Pk;
  id: string;
  organization_id: string;
  data_center_id: string;
  name: string;
  size_in_gb: number;
  wwn: string;
  state: string;
  created_at: number;
  storage_speed: string;
  /**
   * Where the disk's bytes live, for the backup engine: an image file or block device (an absolute path),
   * or an RBD image written `rbd:POOL/IMAGE` (docs/RBD.md); null until it exists.
   */
  image_path: string | null;
}

export interface VirtualMachineDisksTable {
  disk_id: string;
  virtual_machine_id: string;
  attach_on_boot: Flag;
  boot: Flag;
  state: string;
}

export interface DiskBackupPoliciesTable {
  pk: Pk;
  id: string;
  organization_id: string;
  target_type: 'Disk' | 'VirtualMachine';
  target_id: string;
  retention: number;
  /** Bytes of stored backup data; the API shows it in GB. */
  total_size_bytes: number;
  schedule_interval: 'hourly' | 'daily' | 'weekly' | 'monthly';
  schedule_frequency: number;
  schedule_time: number;
  schedule_minute: number;
  /** The first instant of the schedule's current series (re-set whenever the schedule changes). */
  schedule_anchor_at: number;
  next_invocation_at: number;
  auto_move_to_trash_at: number | null;
  created_at: number;
}

export interface TrashObjectsTable {
  pk: Pk;
  id: string;
  organization_id: string;
  object_type: string;
  object_id: string;
  keep_until: number;
  created_at: number;
}

export interface TasksTable {
  pk: Pk;
  id: string;
  organization_id: string;
  name: string;
  status: 'pending' | 'running' | 'completed' | 'failed';
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  progress: number;
}

export interface BackupsTable {
  pk: Pk;
  id: string;
  organization_id: string;
  policy_id: string;
  disk_id: string;
  /** The scheduler's run that took it (null for one adopted from the repository after a crash). */
  run_id: string | null;
  /** The backup's id in the repository (its manifest's name). */
  repository_backup_id: string;
  created_at: number;
  disk_size_bytes: number;
  /** Stored bytes of the chunks this backup added to the repository. */
  new_stored_bytes: number;
  /** `snapshot`: read from a clone of the image; `live`: read while the disk could change. */
  consistency: 'snapshot' | 'live';
  /** 1 when `consistency` is `live`: the disk was read in place, not from a point-in-time clone. */
  live_read: Flag;
  /** When its last verification ended (Unix seconds); null while it was never verified (migration 0013). */
  verified_at: ColumnType<number | null, number | null | undefined, number | null>;
  /** What its last verification found: `ok`, or `failed` (a damaged or missing chunk or manifest). */
  verify_outcome: ColumnType<VerifyOutcome | null, VerifyOutcome | null | undefined, VerifyOutcome | null>;
  /** A short sentence on what its last verification found. */
  verify_detail: ColumnType<string | null, string | null | undefined, string | null>;
  /** Plain bytes of the backup's distinct chunks its last verification read and authenticated. */
  verify_bytes: ColumnType<number | null, number | null | undefined, number | null>;
  /** Until when (Unix seconds) a worker's verification scheduler holds it to verify it; null when none. */
  verify_claimed_until: ColumnType<number | null, number | null | undefined, number | null>;
  /** RBD disks (migration 0014): the snapshot it was read from, kept as the base of the disk's next backup. */
  source_snapshot: ColumnType<string | null, string | null | undefined, string | null>;
  /** RBD disks: `full` (allocated extents read) or `incremental` (changed extents only); null for other disks. */
  read_mode: ColumnType<ReadMode | null, ReadMode | null | undefined, ReadMode | null>;
  /** RBD incrementals: the backup whose chunk ids stand for the chunks not read. */
  base_backup_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** Why a full read was made where an incremental was possible (base snapshot gone, base not verified ok …). */
  read_note: ColumnType<string | null, string | null | undefined, string | null>;
  /** The RBD group snapshot a virtual machine's disks were taken from together (same on each of them). */
  snapshot_group: ColumnType<string | null, string | null | undefined, string | null>;
}

/** How an RBD disk's backup read the disk. */
export type ReadMode = 'full' | 'incremental';

/** A backup's last verification outcome. */
export type VerifyOutcome = 'ok' | 'failed';

export interface ApiTokensTable {
  pk: Pk;
  id: string;
  organization_id: string;
  name: string;
  /** SHA-256 of the secret, hex; the secret itself is never stored. */
  secret_hash: string;
  /** JSON array of scope names. */
  scopes: string;
  /** JSON array of addresses and CIDR ranges; empty means anywhere. */
  authorized_ip_addresses: string;
  expires_at: number | null;
  rate_limit: number;
  created_at: number;
  last_used_at: ColumnType<number | null, number | null | undefined, number | null>;
  /** JSON array of `{key, value}` annotations. */
  annotations: ColumnType<string, string | undefined, string>;
}

export interface RateLimitWindowsTable {
  token_id: string;
  /** Unix minute: floor(seconds / 60). */
  minute: number;
  used: number;
}

export type BackupRunStatus = 'claimed' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface BackupRunsTable {
  pk: Pk;
  id: string;
  policy_id: string;
  organization_id: string;
  /** JSON array of the disk ids the run backs up (the policy's disk, or the machine's disks when claimed). */
  target_disk_ids: string;
  /** The instant of the policy's series this run is for; unique per policy. */
  scheduled_at: number;
  claimed_at: number;
  /** Until when `worker_id` owns the unfinished run; null once it is finished. */
  lease_expires_at: number | null;
  worker_id: string | null;
  started_at: number | null;
  finished_at: number | null;
  status: BackupRunStatus;
  /** Why it failed or was skipped; null when it succeeded. */
  error: string | null;
  /** How many workers have claimed it (1, plus one per lease that expired). */
  attempts: number;
  /** 1 when any of its backups was read live (see BackupsTable.live_read). */
  live_read: ColumnType<Flag, Flag | undefined, Flag>;
  /** JSON of the second copy after the run (RunCopy), null when none was made (migration 0011). */
  copy: ColumnType<string | null, string | null | undefined, string | null>;
}

/** What the second copy after a run (`--copy-to`) did: `copy` of a run, as the services answer it. */
export interface RunCopy {
  /** The target repository, as `--copy-to` takes it. */
  readonly to: string;
  readonly backups_copied: number;
  readonly chunks_sent: number;
  readonly bytes_sent: number;
  /** Why the copy failed (the run's backups stand all the same); null when it succeeded. */
  readonly error: string | null;
}

/** The repository the catalogue is written with (one row at most; see migration 0010). */
export interface RepositoryBindingTable {
  /** Always 1: the table holds one row. */
  singleton: ColumnType<number, number | undefined, never>;
  /** The repository config's random id. */
  repository_id: string;
  /** Where the binding process reached it, as `--repository` takes it (formatRepositoryLocation). */
  location: string;
  /** Unix seconds. */
  bound_at: number;
}

/** An organization's webhook (migration 0012). */
export interface WebhooksTable {
  pk: Pk;
  id: string;
  organization_id: string;
  url: string;
  /** The shared secret bodies are signed with; kept as given (it must sign), never answered back. */
  secret: string;
  description: string | null;
  enabled: ColumnType<Flag, Flag | undefined, Flag>;
  created_at: number;
}

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed';

/** The outbox: one row per event per webhook (migration 0012). */
export interface WebhookDeliveriesTable {
  pk: Pk;
  id: string;
  event_id: string;
  webhook_id: string;
  organization_id: string;
  event_type: string;
  /** The exact body sent (and signed), JSON text. */
  body: string;
  created_at: number;
  status: WebhookDeliveryStatus;
  /** When it is due (again): the retry time, or the end of a claim's lease; null once delivered or failed. */
  next_attempt_at: number | null;
  attempts: ColumnType<number, number | undefined, number>;
  delivered_at: ColumnType<number | null, number | null | undefined, number | null>;
  last_error: ColumnType<string | null, string | null | undefined, string | null>;
  last_http_status: ColumnType<number | null, number | null | undefined, number | null>;
}

/** The delivery log: one row per attempt (migration 0012). */
export interface WebhookDeliveryAttemptsTable {
  pk: Pk;
  delivery_id: string;
  attempt: number;
  attempted_at: number;
  duration_ms: number;
  /** The receiver's HTTP status; null when no answer came (connection refused, timeout). */
  http_status: number | null;
  /** Why the attempt failed; null when it was delivered. */
  error: string | null;
}

export type OperationKind = 'run' | 'restore' | 'verify';
export type OperationStatus = 'running' | 'succeeded' | 'failed';

/** A long operation asked for with `async=true`, readable from any process (migration 0015). */
export interface OperationsTable {
  pk: Pk;
  id: string;
  organization_id: string;
  kind: OperationKind;
  /** The policy run, or the backup restored or verified. */
  subject_id: string;
  status: OperationStatus;
  bytes_done: ColumnType<number, number | undefined, number>;
  bytes_total: ColumnType<number, number | undefined, number>;
  /** Why it failed; null otherwise. */
  error: ColumnType<string | null, string | null | undefined, string | null>;
  /** What it produced (JSON text, by kind); null until it succeeded. */
  result: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: number;
  /** Written at least every few seconds while it runs; an old one means its process died. */
  heartbeat_at: number;
  finished_at: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface Database {
  countries: CountriesTable;
  currencies: CurrenciesTable;
  data_centers: DataCentersTable;
  zones: ZonesTable;
  organizations: OrganizationsTable;
  virtual_machines: VirtualMachinesTable;
  disks: DisksTable;
  virtual_machine_disks: VirtualMachineDisksTable;
  disk_backup_policies: DiskBackupPoliciesTable;
  trash_objects: TrashObjectsTable;
  tasks: TasksTable;
  api_tokens: ApiTokensTable;
  rate_limit_windows: RateLimitWindowsTable;
  backup_runs: BackupRunsTable;
  backups: BackupsTable;
  repository_binding: RepositoryBindingTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_delivery_attempts: WebhookDeliveryAttemptsTable;
  operations: OperationsTable;
}

export type Organization = Selectable<OrganizationsTable>;
export type VirtualMachine = Selectable<VirtualMachinesTable>;
export type Disk = Selectable<DisksTable>;
export type DiskBackupPolicy = Selectable<DiskBackupPoliciesTable>;
export type NewDiskBackupPolicy = Insertable<DiskBackupPoliciesTable>;
export type DiskBackupPolicyUpdate = Updateable<DiskBackupPoliciesTable>;
export type TrashObject = Selectable<TrashObjectsTable>;
export type Task = Selectable<TasksTable>;
export type ApiToken = Selectable<ApiTokensTable>;
export type BackupRunRow = Selectable<BackupRunsTable>;
export type BackupRow = Selectable<BackupsTable>;
/** A run as the services answer it: `live_read` a boolean (services/runs.ts `runRecord`). */
export type BackupRun = Omit<BackupRunRow, 'live_read' | 'copy'> & { live_read: boolean; copy: RunCopy | null };
/** A backup as the services answer it: `live_read` a boolean, no verification lease (services/backups.ts `backupRecord`). */
export type Backup = Omit<BackupRow, 'live_read' | 'verify_claimed_until'> & { live_read: boolean };
export type WebhookRow = Selectable<WebhooksTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type WebhookDeliveryAttemptRow = Selectable<WebhookDeliveryAttemptsTable>;
export type Country = Selectable<CountriesTable>;
export type Currency = Selectable<CurrenciesTable>;
export type DataCenter = Selectable<DataCentersTable>;
export type Zone = Selectable<ZonesTable>;
export type OperationRow = Selectable<OperationsTable>;
