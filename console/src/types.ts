/** The shapes of the API's answers the console reads (docs/API.md; /core/v1/openapi.json, /ext/v1/openapi.json). */
export type Interval = 'hourly' | 'daily' | 'weekly' | 'monthly';

export interface CurrentToken {
  api_token: { id: string; name: string; scopes: string[]; expires_at: number | null };
  organization: { id: string; name: string; time_zone: string };
}

export interface Schedule {
  interval: Interval;
  frequency?: number;
  time?: number;
  minute?: number;
  next_invocation_at: number | null;
}

export interface Policy {
  id: string;
  retention: number;
  total_size: number;
  target: { type: 'Disk' | 'VirtualMachine'; value: { id: string; name?: string; fqdn?: string } };
  schedule: Schedule;
  auto_move_to_trash_at?: number | null;
}

export interface Disk {
  id: string;
  name: string;
  size_in_gb: number;
  state: string;
  virtual_machine_disk: { virtual_machine: { id: string; fqdn: string } } | null;
}

export interface VirtualMachine {
  id: string;
  name: string;
  fqdn: string;
}

export interface RunSummary {
  id: string;
  disk_backup_policy_id: string;
  status: 'claimed' | 'running' | 'succeeded' | 'failed' | 'skipped';
  error: string | null;
  scheduled_at: number;
  started_at: number | null;
  finished_at: number | null;
  backups_kept: number;
  bytes_read: number | null;
  bytes_stored: number | null;
}

export interface Backup {
  id: string;
  disk_id: string;
  created_at: number;
  size: number;
  new_stored_size: number;
  consistency: 'snapshot' | 'live';
  last_verification: { verified_at: number; outcome: 'ok' | 'failed'; detail: string; bytes_checked: number } | null;
}

export interface TrashObject {
  id: string;
  keep_until: number;
  object_id: string;
  object_type: string;
}

export interface ApiToken {
  id: string;
  name: string;
  authorized_ip_addresses: string[];
  expires_at: number | null;
  rate_limit: number;
  scopes: string[];
  secret: string | null;
}

/** A long operation started with `async=true` (GET /ext/v1/operations/:id). */
export interface Operation {
  id: string;
  kind: 'run' | 'restore' | 'verify';
  status: 'running' | 'succeeded' | 'failed';
  bytes_done: number;
  bytes_total: number;
  error: string | null;
  run: { id: string; status: string; error: string | null; backups: { id: string }[] } | null;
  disk: { id: string; name: string } | null;
  verification: { ok: boolean; chunks_checked: number; bad_chunks: unknown[] } | null;
}
