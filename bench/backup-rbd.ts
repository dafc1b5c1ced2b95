/**
 * `npm run bench:backup -- --source rbd`: incremental backups of a disk on Ceph RBD (docs/RBD.md) beside
 * what people do today, on the project's Ceph cluster (`source /tmp/dbp-ceph/env`).
 *
 *   npm run bench:backup -- --source rbd [--image-gib 8] [--data-gib 2] [--changes image|data] [--dir <work dir>] [--dry-run]
 *
 * An image of IMAGE GiB holds DATA GiB of random data from its start (written through librbd); a disk
 * on it gets a full backup, then 1 % of the image's 4 KiB blocks are overwritten at random offsets
 * (seeded): anywhere in the image, or with `--changes data` in the data it holds. Measured, side by side, after that change:
 * - this engine's incremental (`dbp policy run`: snapshot, `rbd diff` against the previous backup's
 *   snapshot, only the chunks it names read);
 * - restic 0.14 backing up the same snapshot streamed by `rbd export … - | restic backup --stdin`,
 *   into a repository that already holds the snapshot of the full backup (what people do today);
 * - this engine on the same snapshot exported to a plain file, as an incremental over the export of
 *   the full backup's snapshot (every byte read, as for any image file);
 * - the scaling check: the same data and the same change on an image of twice the size (`dbp policy
 *   run` again): the incremental's time should follow the changed bytes, not the image's size.
 * Each timed operation is one process; this engine's time is the backup's own (`duration_ms` of the
 * run's backup, without Node's start-up), restic's and the pipe's the whole command.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RbdImageWriter, RbdSnapshotReader } from '../src/engine/rbd/io.js';
import { rbdImagePath, type RbdImageName } from '../src/engine/rbd/names.js';
import { openRuntime } from '../src/runtime.js';
import { writeBenchmarkSection } from './support/benchmarks-md.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const PASSWORD = 'bench passphrase';
const GOALS = { speedUp: 20, scaling: 1.2 };

export interface RbdBenchOptions {
  readonly imageGiB: number;
  readonly dataGiB: number;
  /** Where the changed blocks land: anywhere in the image (the default), or in the data it holds. */
  readonly changes: 'image' | 'data';
  readonly dir: string | undefined;
  readonly dryRun: boolean;
}

function generator(seed: string) {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return (bytes: number) => cipher.update(Buffer.alloc(bytes));
}

const spec = (image: RbdImageName, snapshot?: string) => `${image.pool}/${image.image}${snapshot ? `@${snapshot}` : ''}`;
const rbd = (...args: string[]) => execFileSync('rbd', args, { encoding: 'utf8', maxBuffer: 64 * MiB });

async function writeData(image: RbdImageName, dataGiB: number): Promise<void> {
  // Each image its own data (seeded by its name): the second image's chunks are not already stored.
  const random = generator(`rbd data ${image.image}`);
  const writer = RbdImageWriter.open(image);
  for (let at = 0; at < dataGiB * GiB; at += 4 * MiB) await writer.write(at, random(4 * MiB));
  await writer.finish();
}

/**
 * Overwrites 1 % of the 4 KiB blocks of an image of `imageBytes` (`where` = `image`: at random offsets
 * of the whole image; `data`: 1 % of the blocks of its first `dataBytes`, the data it holds, there) with random bytes. The offsets are the same for every image, the bytes the image's own.
 */
async function changeOnePercent(image: RbdImageName, imageBytes: number, dataBytes: number, where: 'image' | 'data'): Promise<number[]> {
  const offsets = generator('rbd change offsets');
  const bytes = generator(`rbd change bytes ${image.image}`);
  const blocks = (where === 'image' ? imageBytes : dataBytes) / 4096;
  const writer = RbdImageWriter.open(image);
  const count = Math.round(blocks / 100);
  const written: number[] = [];
  for (let i = 0; i < count; i++) {
    written.push((offsets(4).readUInt32BE(0) % blocks) * 4096);
    await writer.write(written.at(-1)!, bytes(4096));
  }
  await writer.finish();
  return written;
}

/**
 * The least time any backup that reads the changes from RBD could take here: only the changed 4 KiB
 * blocks of the snapshot, all asked for at once (the reader keeps many in flight), nothing stored;
 * timed once the reader has connected (a first read).
 */
async function readChangedBlocks(image: RbdImageName, snapshot: string, offsets: readonly number[]): Promise<number> {
  const reader = RbdSnapshotReader.open(image, { kind: 'user', name: snapshot });
  try {
    await reader.read(0, 4096);
    const started = performance.now();
    await Promise.all(offsets.map((offset) => reader.read(offset, 4096)));
    return (performance.now() - started) / 1000;
  } finally {
    await reader.close();
  }
}

interface Timed {
  readonly seconds: number;
  readonly output: string;
}

function timed(command: string, args: readonly string[], env: Record<string, string> = {}): Promise<Timed> {
  execFileSync('sync');
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.once('exit', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${output}`));
      else resolvePromise({ seconds, output });
    });
  });
}

/** `dbp policy run` (compiled); its backup's own time and bytes read. */
async function policyRun(dataDir: string, policyId: string): Promise<{ seconds: number; bytesRead: number; snapshot: string }> {
  const run = await timed(process.execPath, ['dist/src/cli/main.js', 'policy', 'run', policyId, '--data-dir', dataDir, '--json'], { DBP_REPOSITORY_PASSWORD: PASSWORD });
  const result = JSON.parse(run.output) as { status: string; error: string | null; backups: { id: string; bytes_read: number; duration_ms: number }[] };
  if (result.status !== 'succeeded') throw new Error(`policy run failed: ${result.error}`);
  const backups = JSON.parse(execFileSync(process.execPath, ['dist/src/cli/main.js', 'backups', 'list', '--policy', policyId, '--data-dir', dataDir, '--json'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, DBP_REPOSITORY_PASSWORD: PASSWORD } })) as { id: string; source_snapshot: string; read_mode: string }[];
  const backup = backups.find((b) => b.id === result.backups[0]!.id)!;
  return { seconds: result.backups[0]!.duration_ms / 1000, bytesRead: result.backups[0]!.bytes_read, snapshot: backup.source_snapshot };
}

const shellQuote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

/**
 * The cluster's free bytes. A run writes its data twice (both images), and more as snapshot copies of
 * the changed objects; the images' objects are freed only as the OSD trims their snapshots after the
 * run, slowly (osd_snap_trim_sleep_hdd, 5 s on the test cluster's OSD), so back-to-back runs add up.
 */
function clusterFreeBytes(): number {
  const df = JSON.parse(execFileSync('ceph', ['df', '--format', 'json'], { encoding: 'utf8' })) as { stats: { total_avail_bytes: number } };
  return df.stats.total_avail_bytes;
}

export async function runRbdBench(options: RbdBenchOptions): Promise<void> {
  if (!process.env.CEPH_CONF) throw new Error('CEPH_CONF is not set: source /tmp/dbp-ceph/env first (docs/CEPH.md)');
  // Leave room for everyone else on the shared cluster: never run it full.
  const needed = (3 * options.dataGiB + 4) * GiB;
  const free = clusterFreeBytes();
  if (free < needed) {
    throw new Error(`The Ceph cluster has ${(free / GiB).toFixed(1)} GiB free; this run needs ${(needed / GiB).toFixed(1)} GiB (an earlier run's snapshots may still be being trimmed: see \`ceph pg stat\`)`);
  }
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  const dir = options.dir === undefined ? mkdtempSync(join(tmpdir(), 'dbp-bench-rbd-')) : resolve(options.dir);
  if (options.dir !== undefined) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  const tag = `${Date.now().toString(36)}`;
  const small: RbdImageName = { pool: 'rbd', image: `dbp-bench-${options.imageGiB}g-${tag}` };
  const large: RbdImageName = { pool: 'rbd', image: `dbp-bench-${options.imageGiB * 2}g-${tag}` };
  const load = loadavg()[0]!.toFixed(2);
  const dataDir = join(dir, 'data');
  try {
    for (const [image, gib] of [[small, options.imageGiB], [large, options.imageGiB * 2]] as const) {
      rbd('create', '--size', `${gib}G`, spec(image));
      console.error(`bench:backup rbd: writing ${options.dataGiB} GiB into ${spec(image)}`);
      await writeData(image, options.dataGiB);
    }
    // The catalogue: an organization, a disk on each image, a policy for each.
    const runtime = await openRuntime({ dataDir });
    const policies: string[] = [];
    try {
      const org = await runtime.services.inventory.createOrganization({ name: 'RBD bench', subDomain: `rbd-bench-${tag}` });
      for (const image of [small, large]) {
        const disk = await runtime.services.inventory.createDisk({ organizationId: org.id, name: image.image, sizeInGb: 1, imagePath: rbdImagePath(image) });
        const policy = await runtime.services.policies.create(org.id, { type: 'Disk', id: disk.id, name: disk.name }, { retention: 5, schedule: { interval: 'daily' } });
        policies.push(policy.id);
      }
    } finally {
      await runtime.close();
    }
    const [smallPolicy, largePolicy] = policies as [string, string];

    console.error('bench:backup rbd: full backups (this engine, restic, this engine on an exported file)');
    const fullSmall = await policyRun(dataDir, smallPolicy);
    const fullLarge = await policyRun(dataDir, largePolicy);
    const resticRepository = join(dir, 'restic');
    execFileSync('restic', ['init', '--quiet', '-r', resticRepository], { env: { ...process.env, RESTIC_PASSWORD: PASSWORD } });
    const resticPipe = (snapshot: string) =>
      timed('bash', ['-c', `set -o pipefail; rbd export --no-progress ${shellQuote(spec(small, snapshot))} - | restic --no-cache --quiet -r ${shellQuote(resticRepository)} backup --stdin --stdin-filename disk.img`], { RESTIC_PASSWORD: PASSWORD });
    const resticFull = await resticPipe(fullSmall.snapshot);
    const fileRepository = join(dir, 'file-repository');
    const exportTo = (snapshot: string) => {
      const path = join(dir, 'exported.img');
      rmSync(path, { force: true });
      rbd('export', '--no-progress', spec(small, snapshot), path);
      return path;
    };
    const fileBackup = (path: string) =>
      timed(process.execPath, ['dist/bench/support/backup-child.js', 'backup', fileRepository, path, String(64 * 1024)], { DBP_REPOSITORY_PASSWORD: PASSWORD }).then(
        (t) => ({ ...t, seconds: (JSON.parse(t.output.trim().split('\n').at(-1)!) as { seconds: number }).seconds }),
      );
    const fileFull = await fileBackup(exportTo(fullSmall.snapshot));

    console.error('bench:backup rbd: 1 % of the 4 KiB blocks changed; incrementals');
    const changedOffsets = await changeOnePercent(small, options.imageGiB * GiB, options.dataGiB * GiB, options.changes);
    // The same offsets (inside the first IMAGE GiB) on the image twice the size.
    await changeOnePercent(large, options.imageGiB * GiB, options.dataGiB * GiB, options.changes);
    // The two incrementals back to back, before anything else reads the cluster: both find the
    // changed blocks equally recent in the OSD's cache.
    const incrementalSmall = await policyRun(dataDir, smallPolicy);
    const incrementalLarge = await policyRun(dataDir, largePolicy);
    const resticIncremental = await resticPipe(incrementalSmall.snapshot);
    const fileIncremental = await fileBackup(exportTo(incrementalSmall.snapshot));

    const floorSeconds = await readChangedBlocks(small, incrementalSmall.snapshot, changedOffsets);
    const changed = changedOffsets.length;
    const speedUp = resticIncremental.seconds / incrementalSmall.seconds;
    const overFile = fileIncremental.seconds / incrementalSmall.seconds;
    const scaling = incrementalLarge.seconds / incrementalSmall.seconds;
    const yes = (met: boolean) => (met ? 'yes' : '**no**');
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const mib = (bytes: number) => (bytes / MiB).toFixed(0);
    const markdown = `
## Backup engine on Ceph RBD (\`npm run bench:backup -- --source rbd${options.changes === 'data' ? ' --changes data' : ''}\`)

- Command: \`npm run bench:backup -- --source rbd --image-gib ${options.imageGiB} --data-gib ${options.dataGiB}${options.changes === 'data' ? ' --changes data' : ''}\`
- Cluster: the project's single-node Ceph (docs/CEPH.md: one OSD on a sparse file), pool \`rbd\`
- Date: ${new Date().toISOString()}; commit ${commit} (the working tree may hold uncommitted changes)
- Machine: \`nproc\` ${cpus().length}, ${cpus()[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Node ${process.version}; restic ${execFileSync('restic', ['version'], { encoding: 'utf8' }).split(' ')[1]}; load average at start ${load} (the machine may have been shared with other work)
- Image: ${options.imageGiB} GiB holding ${options.dataGiB} GiB of random data from its start; then ${changed} 4 KiB blocks (1 % of the ${options.changes === 'data' ? "data's" : "image's"}) overwritten at random offsets ${options.changes === 'data' ? `of the ${options.dataGiB} GiB of data (RBD's diff is exact there)` : "of the whole image (most land in 4 MiB objects first written since the base, which RBD's diff reports from their start to their last written byte)"}. Each image holds its own data and changed bytes (the same offsets). This engine: 64 KiB chunks, encrypted; restic encrypts too.

| Operation | seconds | read from the disk (MiB) |
|---|--:|--:|
| this engine, full backup (allocated extents only) | ${fullSmall.seconds.toFixed(1)} | ${mib(fullSmall.bytesRead)} |
| restic, full: \`rbd export … - \\| restic backup --stdin\` | ${resticFull.seconds.toFixed(1)} | ${mib(options.imageGiB * GiB)} |
| this engine on the exported file, full | ${fileFull.seconds.toFixed(1)} | ${mib(options.imageGiB * GiB)} |
| **this engine, incremental** (changed chunks only) | ${incrementalSmall.seconds.toFixed(1)} | ${mib(incrementalSmall.bytesRead)} |
| restic, incremental: the new snapshot through the same pipe | ${resticIncremental.seconds.toFixed(1)} | ${mib(options.imageGiB * GiB)} |
| this engine on the new snapshot exported to a file (incremental; export not timed) | ${fileIncremental.seconds.toFixed(1)} | ${mib(options.imageGiB * GiB)} |
| this engine, incremental, the same data and change on a ${options.imageGiB * 2} GiB image | ${incrementalLarge.seconds.toFixed(1)} | ${mib(incrementalLarge.bytesRead)} |
| (this engine, full backup of the ${options.imageGiB * 2} GiB image, context) | ${fullLarge.seconds.toFixed(1)} | ${mib(fullLarge.bytesRead)} |
| (floor: only the ${changed} changed 4 KiB blocks read from the new snapshot, all asked for at once; nothing else) | ${floorSeconds.toFixed(2)} | ${mib(changed * 4096)} |

| Goal | figure | met? |
|---|--:|:-:|
| incremental ≥ ${GOALS.speedUp} × restic through \`rbd export\` | ${speedUp.toFixed(1)} × | ${yes(speedUp >= GOALS.speedUp)} |
| (context: incremental against this engine on the exported file) | ${overFile.toFixed(1)} × | |
| (context: the most any backup reading the changes from this cluster could reach: restic ÷ floor) | ${(resticIncremental.seconds / floorSeconds).toFixed(1)} × | |
| incremental on the ${options.imageGiB * 2} GiB image ≤ ${GOALS.scaling} × the ${options.imageGiB} GiB one | ${scaling.toFixed(2)} × | ${yes(scaling <= GOALS.scaling)} |

Method: each operation is one process, run once (an incremental cannot be repeated on the same
state), after a \`sync\`. This engine's times are its backup's own (\`duration_ms\`: snapshot, \`rbd diff\`,
reads, hashing, sealing, manifest), restic's the whole pipe. With 1 % of the 4 KiB blocks changed at
random, about 15 % of the 64 KiB chunks they land in hold a changed block, and each is read whole; where
RBD's diff is coarser (objects first written since the base) this engine reads what it names. The bytes
read follow what RBD reports changed, not the image's size. The floor reads nothing but the changed
blocks themselves through librbd (no snapshot, no diff, no hashing, nothing stored): on a cluster
where each read costs the OSD a fixed amount of CPU, no engine reading from RBD can go faster.
`;
    console.log(markdown);
    if (!options.dryRun) writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), options.changes === 'data' ? 'backup-rbd-data' : 'backup-rbd', markdown);
  } finally {
    for (const image of [small, large]) {
      try {
        rbd('snap', 'purge', '--no-progress', spec(image));
        rbd('rm', '--no-progress', spec(image));
      } catch {
        // not made
      }
    }
    if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}
