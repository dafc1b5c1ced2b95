/**
 * RBD disks through the command line (docs/RBD.md): `disk create --rbd` on an existing image or making
 * one with `--size-gb`, clear refusals that change nothing, the disk in `disk list`, a `policy run`
 * from a snapshot, and `restore --to-rbd` into a new image byte-identical to the snapshot.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { dbp, type CliResult } from '../support/dbp-cli.js';
import { TEST_REPOSITORY_PASSWORD, TestService, type TestOrganization } from '../support/harness.js';
import { createImage, exportHash, rbdCommand, rbdSkipReason, removeImage, spec, uniqueImage, writeImage } from '../support/rbd.js';

const MiB = 1024 * 1024;

describe('RBD disks on the command line', { skip: rbdSkipReason() }, () => {
  let service: TestService;
  let org: TestOrganization;
  const images: ReturnType<typeof uniqueImage>[] = [];
  const env = { DBP_REPOSITORY_PASSWORD: TEST_REPOSITORY_PASSWORD };
  const run = (args: string[]): Promise<CliResult> => dbp([...args, '--data-dir', service.dataDir], { env });
  const json = async (args: string[]) => {
    const result = await run([...args, '--json']);
    assert.equal(result.code, 0, `dbp ${args.join(' ')}: ${result.stderr}`);
    return JSON.parse(result.stdout);
  };
  const image = (label: string) => {
    const name = uniqueImage(label);
    images.push(name);
    return name;
  };
  before(async () => {
    service = await TestService.start('sqlite', { backupEngine: true });
    org = await service.createOrganization('RbdCli');
  });
  after(async () => {
    for (const name of images) await removeImage(name);
    await service.stop();
  });

  test('disk create --rbd: an existing image, a new one with --size-gb; refusals change nothing', async () => {
    const existing = image('existing');
    await createImage(existing, 64 * MiB);
    const onExisting = await json(['disk', 'create', '--org', org.id, '--name', 'existing', '--rbd', spec(existing)]);
    assert.equal(onExisting.image, `rbd:${spec(existing)}`);
    assert.equal(onExisting.size_in_gb, 1);
    const made = image('made');
    const onNew = await json(['disk', 'create', '--org', org.id, '--name', 'made', '--rbd', spec(made), '--size-gb', '2']);
    assert.equal(onNew.size_in_gb, 2);
    assert.equal(JSON.parse(await rbdCommand(['info', spec(made), '--format', 'json'])).size, 2_000_000_000);
    const listed = await json(['disk', 'list', '--org', org.id]);
    assert.deepEqual(listed.map((disk: { image_path: string }) => disk.image_path), [`rbd:${spec(existing)}`, `rbd:${spec(made)}`]);

    const missing = image('missing');
    const refusals: [string[], RegExp][] = [
      [['--rbd', `nopool-${Date.now()}/x`], /no such pool/],
      [['--rbd', spec(missing)], /no such image.*give --size-gb to create it/],
      [['--rbd', 'rbd'], /is not POOL\/IMAGE/],
      [['--rbd', 'rbd/a@b'], /the image name "a@b" must be/],
      [['--rbd', spec(existing), '--image', '/etc/hosts'], /give --image or --rbd, not both/],
      [['--rbd', spec(existing), '--size-gb', '3'], /exists and holds 67108864 bytes.*leave --size-gb out/],
      [['--rbd', spec(existing)], /disk disk_\w+ is on that image already/],
      [['--rbd', spec(missing), '--size-gb', '1', '--vm', 'vm_nosuchmachine0000'], /No virtual machine/],
    ];
    for (const [args, message] of refusals) {
      const result = await run(['disk', 'create', '--org', org.id, '--name', 'refused', ...args]);
      assert.notEqual(result.code, 0, args.join(' '));
      assert.match(result.stderr, message, args.join(' '));
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    }
    assert.equal((await json(['disk', 'list', '--org', org.id])).length, 2, 'no disk was made');
    await assert.rejects(rbdCommand(['info', spec(missing)]), /No such file/, 'no image was made for a refused disk');
  });

  test('policy run backs an RBD disk up from a snapshot; restore --to-rbd writes a new image identical to it', async () => {
    const source = image('source');
    await createImage(source, 96 * MiB);
    await writeImage(source, [{ offset: 0, bytes: randomBytes(4 * MiB) }, { offset: 64 * MiB, bytes: randomBytes(MiB) }]);
    const disk = await json(['disk', 'create', '--org', org.id, '--name', 'source', '--rbd', spec(source)]);
    const policy = await service.createPolicy(org.token, disk.id, { retention: 2, schedule: { interval: 'daily' } });
    const ran = await json(['policy', 'run', policy.id]);
    assert.equal(ran.status, 'succeeded', ran.error);
    assert.equal(ran.backups[0].bytes_read, 5 * MiB);
    assert.equal(ran.backups[0].live_read, false);
    const [backup] = await json(['backups', 'list', '--policy', policy.id]);
    assert.equal(backup.consistency, 'snapshot');
    assert.equal(backup.read_mode, 'full');
    assert.match(backup.source_snapshot, /^dbp\.run_\w+\.bkp_\w+$/);
    const target = image('target');
    const restored = await json(['restore', '--backup', backup.id, '--to-rbd', spec(target)]);
    assert.deepEqual(restored, { backup: backup.id, rbd: spec(target), bytes: 96 * MiB });
    assert.equal(await exportHash(target), await exportHash(source, backup.source_snapshot));
    const again = await run(['restore', '--backup', backup.id, '--to-rbd', spec(target)]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /exists already/);
    const badName = await run(['restore', '--backup', backup.id, '--to-rbd', 'no-slash']);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /is not POOL\/IMAGE/);
    const both = await run(['restore', '--backup', backup.id, '--to-rbd', spec(target), '--to', '/tmp/x.img']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /exactly one of/);
  });
});
