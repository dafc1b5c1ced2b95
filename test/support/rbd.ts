/**
 * Ceph RBD for tests: the project's test cluster (docs/CEPH.md) has an `rbd` pool. RBD tests run when
 * CEPH_CONF names the cluster's config (`source /tmp/dbp-ceph/env`) and skip otherwise, unless
 * DBP_REQUIRE_RBD=1 or DBP_REQUIRE_S3=1 (CI, which starts the cluster for both): then a missing
 * cluster is an error. Images are named per test run, written through the engine's RBD writer and
 * hashed through `rbd export` (the tool's own read of a snapshot, not the engine's).
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { RbdImageWriter } from '../../src/engine/rbd/io.js';
import type { RbdImageName } from '../../src/engine/rbd/names.js';

export const TEST_POOL = 'rbd';
const HOW_TO_START = 'bash scripts/ceph/start.sh && source /tmp/dbp-ceph/env';

/** The reason RBD tests skip, or false when they run; throws when they are required but cannot run. */
export function rbdSkipReason(env: NodeJS.ProcessEnv = process.env): string | false {
  const required = env.DBP_REQUIRE_RBD === '1' || env.DBP_REQUIRE_S3 === '1';
  const conf = env.CEPH_CONF;
  const problem = !conf ? 'CEPH_CONF is not set' : !existsSync(conf) ? `CEPH_CONF names ${conf}, which does not exist` : undefined;
  if (!problem) return false;
  if (required) throw new Error(`RBD tests are required (DBP_REQUIRE_RBD/DBP_REQUIRE_S3=1) but ${problem}: ${HOW_TO_START}`);
  return `${problem}: RBD tests skipped (to run them: ${HOW_TO_START})`;
}

const RUN_ID = `${Date.now().toString(36)}${process.pid.toString(36)}`;
let counter = 0;

/** A new image name in the test pool, unique to this test run. */
export function uniqueImage(label: string): RbdImageName {
  counter += 1;
  return { pool: TEST_POOL, image: `dbp-test-${label}-${RUN_ID}-${counter}` };
}

export function rbdCommand(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('rbd', args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => (error ? reject(new Error(`rbd ${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout)));
  });
}

export const spec = (name: RbdImageName, snapshot?: string) => `${name.pool}/${name.image}${snapshot ? `@${snapshot}` : ''}`;

export async function createImage(name: RbdImageName, bytes: number): Promise<void> {
  await rbdCommand(['create', '--size', `${bytes}B`, spec(name), '--no-progress']);
}

/** Removes the image and its snapshots; an image that is not there is no error. */
export async function removeImage(name: RbdImageName): Promise<void> {
  await rbdCommand(['snap', 'purge', spec(name), '--no-progress']).catch(() => {});
  await rbdCommand(['rm', spec(name), '--no-progress']).catch(() => {});
}

export async function snapshotNames(name: RbdImageName): Promise<string[]> {
  return (JSON.parse(await rbdCommand(['snap', 'ls', spec(name), '--format', 'json'])) as { name: string }[]).map((snap) => snap.name);
}

/** Writes each buffer at its offset of the live image. */
export async function writeImage(name: RbdImageName, writes: readonly { offset: number; bytes: Uint8Array }[]): Promise<void> {
  const writer = RbdImageWriter.open(name);
  for (const write of writes) await writer.write(write.offset, write.bytes);
  await writer.finish();
}

/** `count` random blocks of `blockSize` at random block-aligned offsets of an image of `size` bytes. */
export function randomWrites(size: number, count: number, blockSize = 4096): { offset: number; bytes: Buffer }[] {
  return Array.from({ length: count }, () => ({ offset: Math.floor(Math.random() * (size / blockSize)) * blockSize, bytes: randomBytes(blockSize) }));
}

/** sha256 of the image (or a snapshot of it) as `rbd export` reads it. */
export function exportHash(name: RbdImageName, snapshot?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('rbd', ['export', '--no-progress', spec(name, snapshot), '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const hash = createHash('sha256');
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => hash.update(data));
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    child.on('close', (code) => (code === 0 ? resolve(hash.digest('hex')) : reject(new Error(`rbd export ${spec(name, snapshot)}: ${stderr}`))));
  });
}

/**
 * Writes a counter (1, 2, 3 …) into the first 4 KiB of image `a`, then the same into image `b`, again
 * and again, each write acknowledged before the next (librbd's synchronous writes), until `stop`. At any
 * instant `a` holds the counter `b` holds, or one more. Answers the last counter written.
 */
export function startLockStepWriter(a: RbdImageName, b: RbdImageName): { stop: () => Promise<number> } {
  const script = String.raw`
import os, signal, struct, sys, rados, rbd
stopping = False
def stop(*_):
    global stopping
    stopping = True
signal.signal(signal.SIGTERM, stop)
cluster = rados.Rados(conffile=os.environ["CEPH_CONF"]); cluster.connect()
images = []
for pool, name in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):
    images.append(rbd.Image(cluster.open_ioctx(pool), name))
n = 0
while not stopping:
    n += 1
    block = struct.pack(">Q", n) * 512
    for image in images:
        image.write(block, 0)
print(n)
for image in images:
    image.close()
cluster.shutdown()
`;
  const child = spawn(existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', ['-c', script, a.pool, a.image, b.pool, b.image], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (data: Buffer) => (out += data.toString()));
  child.stderr.on('data', (data: Buffer) => (err += data.toString()));
  const ended = new Promise<number>((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`lock-step writer: ${err}`)))));
  return {
    stop: () => {
      child.kill('SIGTERM');
      return ended;
    },
  };
}

/** The counter startLockStepWriter left in an image's first 8 bytes. */
export function counterOf(image: Buffer): number {
  return Number(image.readBigUInt64BE(0));
}

