/**
 * `dbp disk create --image` (issue 15, defect 12): the disk's size is the image's. A --size-gb that
 * contradicts the image (1000 for a 64 MiB file) is refused with one line naming both sizes, exit 2,
 * nothing created; repeating the image's size is accepted. Through the CLI as a child process.
 * (The other CLI items of defect 12 — `| head`, `--size-gb -1`, flags before the command — held on
 * this code already and are tested in list.test.ts and help.test.ts.)
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dbp, dbpJson } from '../support/dbp-cli.js';

let dataDir: string;
let image: string;
let organization: string;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'dbp-disk-image-'));
  image = join(dataDir, 'disk.img');
  const fd = openSync(image, 'w');
  ftruncateSync(fd, 64 * 1024 * 1024); // sparse: 64 MiB on paper, nothing on disk
  closeSync(fd);
  organization = (await dbpJson(['org', 'create', '--name', 'Images', '--sub-domain', 'images', '--data-dir', dataDir])).id;
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

test('--size-gb that is not the image size is refused (exit 2, one line naming both), and nothing is created', async () => {
  const refused = await dbp(['disk', 'create', '--org', organization, '--name', 'wrong', '--image', image, '--size-gb', '1000', '--data-dir', dataDir]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /^dbp disk create: --size-gb 1000 is not the size of --image .*disk\.img \(67108864 bytes: 1 GB\); leave --size-gb out\n/);
  assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  const disks = await dbpJson(['disk', 'list', '--org', organization, '--data-dir', dataDir]);
  assert.deepEqual(disks, []);
});

test('the image size, given or left out, is what the disk reports', async () => {
  const implied = await dbpJson(['disk', 'create', '--org', organization, '--name', 'implied', '--image', image, '--data-dir', dataDir]);
  assert.equal(implied.size_in_gb, 1);
  const repeated = await dbpJson(['disk', 'create', '--org', organization, '--name', 'repeated', '--image', image, '--size-gb', '1', '--data-dir', dataDir]);
  assert.equal(repeated.size_in_gb, 1);
});
