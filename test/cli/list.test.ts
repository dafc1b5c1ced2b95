/**
 * The listing commands show what the CLI created: `org list`, `vm list`, `disk list`, `policy list`,
 * `policy show` — aligned columns, or JSON arrays of snake_case objects; and a listing cut short by its
 * reader (`dbp org list | head -1`) ends quietly.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openRuntime } from '../../src/runtime.js';
import { dbp, dbpJson, spawnDbp } from '../support/dbp-cli.js';

let dataDir: string;
let demo: any;
let other: any;
let otherVm: any;
let otherDisk: any;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'dbp-list-cli-'));
  demo = await dbpJson(['demo', '--data-dir', dataDir]);
  other = await dbpJson(['org', 'create', '--name', 'Other Org', '--time-zone', 'Asia/Kathmandu', '--data-dir', dataDir]);
  otherVm = await dbpJson(['vm', 'create', '--org', other.sub_domain, '--name', 'db', '--data-dir', dataDir]);
  otherDisk = await dbpJson(['disk', 'create', '--org', other.id, '--vm', otherVm.id, '--name', 'db data', '--size-gb', '5', '--data-dir', dataDir]);
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

/** Keys of every object at any depth are snake_case. */
function assertSnakeCase(value: unknown): void {
  if (Array.isArray(value)) return value.forEach(assertSnakeCase);
  if (value === null || typeof value !== 'object') return;
  for (const [key, inner] of Object.entries(value)) {
    assert.match(key, /^[a-z0-9_]+$/, key);
    assertSnakeCase(inner);
  }
}

test('org list: every organization, as JSON (global flags before the command) and as aligned columns', async () => {
  const listed = await dbpJson(['--data-dir', dataDir, 'org', 'list']);
  assertSnakeCase(listed);
  assert.deepEqual(
    listed.map((o: any) => [o.id, o.sub_domain, o.country, o.suspended]),
    [
      [demo.organization.id, 'demo', 'United Kingdom', false],
      [other.id, other.sub_domain, 'Nepal', false],
    ],
  );
  const text = await dbp(['--data-dir', dataDir, 'org', 'list']);
  assert.equal(text.code, 0, text.stderr);
  const [header, ...rows] = text.stdout.trimEnd().split('\n');
  assert.match(header!, /^id\s+name\s+sub_domain\s+country\s+time_zone\s+suspended\s+created_at$/);
  assert.equal(rows.length, 2);
  for (const column of ['name', 'sub_domain', 'time_zone', 'created_at']) {
    const at = header!.indexOf(column);
    assert.ok(rows.every((row) => row[at - 1] === ' ' && row[at] !== ' '), `column ${column} is aligned`);
  }
  assert.ok(rows[1]!.startsWith(`${other.id}  Other Org`));
});

test('vm list and disk list: all, or narrowed by --org and --vm', async () => {
  const vms = await dbpJson(['vm', 'list', '--data-dir', dataDir]);
  assertSnakeCase(vms);
  assert.deepEqual(vms.map((v: any) => v.id), [demo.virtual_machine.id, otherVm.id]);
  assert.deepEqual(vms[0].disk_ids.sort(), [...demo.virtual_machine.disk_ids].sort());
  assert.deepEqual((await dbpJson(['vm', 'list', '--org', other.sub_domain, '--data-dir', dataDir])).map((v: any) => v.fqdn), [otherVm.fqdn]);

  const disks = await dbpJson(['disk', 'list', '--data-dir', dataDir]);
  assertSnakeCase(disks);
  assert.equal(disks.length, 4);
  const ofDemo = await dbpJson(['disk', 'list', '--org', 'demo', '--data-dir', dataDir]);
  assert.deepEqual(ofDemo.map((d: any) => d.id).sort(), [...demo.virtual_machine.disk_ids, demo.disk.id].sort());
  const onVm = await dbpJson(['disk', 'list', '--vm', otherVm.fqdn, '--data-dir', dataDir]);
  assert.deepEqual(onVm.map((d: any) => [d.id, d.name, d.size_in_gb, d.organization_id, d.virtual_machine_id]), [
    [otherDisk.id, 'db data', 5, other.id, otherVm.id],
  ]);
  assert.deepEqual(await dbpJson(['disk', 'list', '--org', 'demo', '--vm', otherVm.id, '--data-dir', dataDir]), []);
  const text = await dbp(['disk', 'list', '--vm', otherVm.id, '--data-dir', dataDir]);
  assert.match(text.stdout, new RegExp(`^id\\s+name\\s+size_in_gb.*\\n${otherDisk.id}\\s+db data\\s+5\\s+${other.id}\\s+${otherVm.id}\\s+-\\n$`));
  const unknown = await dbp(['disk', 'list', '--vm', 'nowhere', '--data-dir', dataDir]);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, 'dbp disk list: No virtual machine with id or FQDN "nowhere"\n');
});

test('policy list and policy show: the demo policy, found by organization and by disk; none on another disk', async () => {
  const policyId = demo.disk_backup_policy.id;
  const all = await dbpJson(['policy', 'list', '--data-dir', dataDir]);
  assertSnakeCase(all);
  assert.deepEqual(all.map((p: any) => [p.id, p.organization_id, p.target.type, p.target.id, p.retention, p.schedule]), [
    [policyId, demo.organization.id, 'Disk', demo.disk.id, 7, { interval: 'daily', frequency: 1, time: 2, minute: 30 }],
  ]);
  assert.deepEqual((await dbpJson(['policy', 'list', '--org', 'demo', '--disk', demo.disk.id, '--data-dir', dataDir])).map((p: any) => p.id), [policyId]);
  assert.deepEqual(await dbpJson(['policy', 'list', '--org', other.id, '--data-dir', dataDir]), []);
  assert.deepEqual(await dbpJson(['policy', 'list', '--vm', demo.virtual_machine.id, '--data-dir', dataDir]), []);

  const shown = await dbpJson(['policy', 'show', policyId, '--data-dir', dataDir]);
  assert.deepEqual({ ...shown, created_at: 0, next_invocation_at: 0 }, { ...all[0], created_at: 0, next_invocation_at: 0, in_trash: false });
  const text = await dbp(['policy', 'show', policyId, '--data-dir', dataDir]);
  assert.match(text.stdout, new RegExp(`target\\s+Disk ${demo.disk.id} \\(archive disk\\)\\n\\s+retention\\s+7\\n\\s+schedule\\s+daily 02:30\\n`));
  const missing = await dbp(['policy', 'show', 'dbp_nope', '--data-dir', dataDir]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'dbp policy show: No disk backup policy with id "dbp_nope"\n');
});

test('a listing whose reader goes away (dbp org list | head -1) exits 0 without a stack trace', async () => {
  const many = mkdtempSync(join(tmpdir(), 'dbp-list-epipe-'));
  try {
    const runtime = await openRuntime({ dataDir: many });
    try {
      for (let i = 0; i < 3000; i++) await runtime.services.inventory.createOrganization({ name: `Organization ${i}` });
    } finally {
      await runtime.close();
    }
    const child = spawnDbp(['org', 'list', '--data-dir', many]);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // Read the first chunk (far less than the whole listing), then stop reading, as `head -1` does.
    const first = await new Promise<string>((resolve) => child.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    child.stdout!.destroy();
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.match(first, /^id\s+name/);
    assert.equal(stderr, '');
    assert.equal(code, 0);
  } finally {
    rmSync(many, { recursive: true, force: true });
  }
});
