/**
 * `npm run bench:backup`: the backup engine beside restic on the same deterministic image and disk,
 * with `cat` and `sha256sum` of the image as the physical reference.
 *
 *   npm run bench:backup [-- --size-mib 2048] [--chunk-sizes 262144,1048576,4194304] [--dir <work dir>] [--repository local|s3]
 *   npm run bench:backup -- --source rbd [--image-gib 8] [--data-gib 2] [--changes image|data]   (a disk on Ceph RBD: bench/backup-rbd.ts)
 *
 * The image: 1 MiB units, 40 % random, 30 % zeros, 30 % copies of 16 fixed random blocks, from a
 * seeded generator. Measured, each in its own process (peak RSS = its VmHWM): a full backup, an
 * incremental backup after 1 % of the image's 4 KiB blocks were overwritten at random offsets, and a
 * restore of the incremental backup — for this engine (encrypted, default chunk size) and for restic.
 * Full backups and restores run 3 times each, the two tools in alternating order, and their medians
 * are compared; the incremental runs once (it cannot be repeated on the same repository state).
 * `--chunk-sizes` adds full and incremental backups of this engine at other chunk sizes.
 * The image stays in the page cache for every reader alike (the machine has far more memory than
 * the image, and nothing here can drop the cache): the figures compare the tools' own work.
 * The work happens in a new temporary directory (removed afterwards), or in `--dir` when given (emptied
 * first and kept afterwards).
 * `--repository s3` puts both tools' repositories in buckets of the test S3 endpoint (DBP_TEST_S3_ENDPOINT
 * and the AWS variables: `source /tmp/dbp-ceph/env`) and reports the S3 requests each tool made per GiB
 * stored, counted in one more full backup, incremental and restore of each tool into repositories reached
 * through a request-counting proxy (the timed runs talk to the store directly); its section of
 * BENCHMARKS.md is `backup-s3`.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_CHUNK_SIZE } from '../src/engine/repository/index.js';
import { localPlaces, s3Places, type BenchPlace, type BenchPlaces } from './support/bench-places.js';
import { writeBenchmarkSection } from './support/benchmarks-md.js';
import { runRbdBench } from './backup-rbd.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const MiB = 1024 * 1024;
const execFileAsync = promisify(execFile);
const PASSWORD = 'bench passphrase';
const GOALS = { full: 2, incremental: 3, restore: 1.5, size: 1, rssMiB: 256 };

const { values: args } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '2048' },
    'chunk-sizes': { type: 'string' },
    dir: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    repository: { type: 'string', default: 'local' },
    source: { type: 'string', default: 'file' },
    'image-gib': { type: 'string', default: '8' },
    'data-gib': { type: 'string', default: '2' },
    changes: { type: 'string', default: 'image' },
  },
});
if (args.source !== 'file' && args.source !== 'rbd') throw new Error(`--source is file or rbd, not ${args.source}`);
if (args.repository !== 'local' && args.repository !== 's3') throw new Error(`--repository is local or s3, not ${args.repository}`);
const sizeMiB = Number(args['size-mib']);
/** The user's `--dir` (kept afterwards), else a new temporary directory (removed afterwards). */
const dir = args.dir === undefined ? mkdtempSync(join(tmpdir(), 'dbp-bench-backup-')) : resolve(args.dir);

/** A seeded byte stream: AES-256-CTR of zeros under a key made from the seed. */
function generator(seed: string) {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return (bytes: number) => cipher.update(Buffer.alloc(bytes));
}

function makeImage(path: string): void {
  const random = generator('image');
  const choose = generator('choices');
  const blocks = Array.from({ length: 16 }, () => random(MiB));
  const fd = openSync(path, 'w');
  for (let i = 0; i < sizeMiB; i++) {
    const [a, b] = choose(2);
    const share = (a! * 256 + b!) / 65536;
    const unit = share < 0.4 ? random(MiB) : share < 0.7 ? Buffer.alloc(MiB) : blocks[b! % 16]!;
    writeSync(fd, unit);
  }
  closeSync(fd);
}

/** Overwrites 1 % of the image's 4 KiB blocks, at random offsets, with random bytes. */
function changeOnePercent(path: string): void {
  const blocks = (sizeMiB * MiB) / 4096;
  const random = generator('changes');
  const fd = openSync(path, 'r+');
  for (let i = 0; i < Math.round(blocks / 100); i++) {
    const position = random(4).readUInt32BE(0) % blocks;
    writeSync(fd, random(4096), 0, 4096, position * 4096);
  }
  closeSync(fd);
}

interface Measured {
  seconds: number;
  peakRssBytes: number;
  output: string;
  /** S3 requests the operation made (0 on a local directory). */
  requests: number;
}

let places: BenchPlaces;

const ROUNDS = 3;

/** Round 0, 2, …: ours first; round 1, 3, …: restic first (neither tool always meets a cold or a warm machine). */
async function inAlternatingOrder(round: number, oursNow: () => Promise<unknown>, resticNow: () => Promise<unknown>): Promise<void> {
  if (round % 2 === 0) await oursNow().then(resticNow);
  else await resticNow().then(oursNow);
}

function median<T extends { seconds: number }>(runs: readonly T[]): T {
  return [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)]!;
}

const seconds = (runs: readonly Measured[]) => runs.map((m) => m.seconds.toFixed(1)).join(', ');
/** "full / incremental / restore": the largest VmHWM of each operation's runs, in MiB. */
const peaksByOperation = (...operations: readonly (readonly Measured[])[]) =>
  operations.map((runs) => (Math.max(...runs.map((m) => m.peakRssBytes)) / MiB).toFixed(0)).join(' / ');

/**
 * Runs a command, timing it and sampling its VmHWM until it exits. Every dirty page is written back
 * first (not timed), so that no operation pays for the writes of the one before it.
 */
function measure(command: string, commandArgs: string[], env: Record<string, string> = {}): Promise<Measured> {
  execFileSync('sync');
  places.takeRequests(); // what came before (a restic init, a listing) is not the operation's
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(command, commandArgs, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    let peak = 0;
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    const sampler = setInterval(() => {
      try {
        const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (match) peak = Math.max(peak, Number(match[1]) * 1024);
      } catch {
        // exited
      }
    }, 20);
    child.once('exit', (code) => {
      clearInterval(sampler);
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) reject(new Error(`${command} ${commandArgs.join(' ')} exited with ${code}: ${output}`));
      else resolvePromise({ seconds, peakRssBytes: peak, output, requests: places.takeRequests() });
    });
  });
}

// This engine runs compiled (dist/, as `dbp` runs), not through tsx: `npm run build` first. An S3
// repository gets a cache directory of its own, kept from one operation to the next as a CLI's is.
const ours = (operation: string, repository: string, ...rest: string[]) =>
  measure(process.execPath, ['dist/bench/support/backup-child.js', operation, repository, ...rest], {
    DBP_REPOSITORY_PASSWORD: PASSWORD,
    DBP_CACHE_DIR: join(dir, 'cache', createHash('sha256').update(repository).digest('hex').slice(0, 16)),
  }).then((m) => {
    const reported = JSON.parse(m.output.trim().split('\n').at(-1)!) as { seconds: number; peakRssBytes: number; backupId?: string };
    // The operation's own time (without starting Node), and the larger of the two RSS readings.
    return { ...m, ...reported, peakRssBytes: Math.max(m.peakRssBytes, reported.peakRssBytes) };
  });
const restic = (...rest: string[]) => measure('restic', ['--no-cache', '--quiet', ...rest], { RESTIC_PASSWORD: PASSWORD });
/** S3: a backup of the image (as it is now) by each tool into its counted repository. */
async function countedBackups(image: string, into: { ours: BenchPlace; restic: BenchPlace }): Promise<{ ours: Measured & { backupId?: string }; restic: Measured }> {
  return { ours: await ours('backup', into.ours.ours, image, String(DEFAULT_CHUNK_SIZE)), restic: await restic('-r', into.restic.restic, 'backup', image) };
}

// Not execFileSync: on S3 the request-counting proxy runs in this process and must keep answering.
const resticInit = (place: BenchPlace) => execFileAsync('restic', ['init', '--quiet', '-r', place.restic], { env: { ...process.env, RESTIC_PASSWORD: PASSWORD } });

async function main(): Promise<void> {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  if (args.dir !== undefined) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  const image = join(dir, 'image');
  const load = loadavg()[0]!.toFixed(2);
  console.error(`bench:backup: making a ${sizeMiB} MiB image in ${dir}`);
  makeImage(image);
  const megabytes = (sizeMiB * MiB) / 1e6;
  const rate = (seconds: number) => megabytes / seconds;

  const cat = await measure('sh', ['-c', `cat '${image}' > /dev/null`]);
  const sha = await measure('sha256sum', [image]);

  const ourPlace = await places.create('ours');
  const resticPlace = await places.create('restic');
  const ourRepository = ourPlace.ours;
  const resticRepository = resticPlace.restic;
  await resticInit(resticPlace);

  console.error('bench:backup: full backups');
  // As noisy as a restore on this shared machine: ROUNDS rounds, the two tools in alternating order,
  // each into a new repository; the medians are compared. The first round's repositories go on.
  const ourFulls: Measured[] = [];
  const resticFulls: Measured[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const [oursTo, resticTo] = round === 0 ? [ourPlace, resticPlace] : [await places.create(`ours-full-${round}`), await places.create(`restic-full-${round}`)];
    if (round > 0) await resticInit(resticTo);
    const oursNow = () => ours('backup', oursTo.ours, image, String(DEFAULT_CHUNK_SIZE)).then((m) => ourFulls.push(m));
    const resticNow = () => restic('-r', resticTo.restic, 'backup', image).then((m) => resticFulls.push(m));
    await inAlternatingOrder(round, oursNow, resticNow);
    if (round > 0) for (const place of [oursTo, resticTo]) await place.remove();
  }
  const [ourFull, resticFull] = [median(ourFulls), median(resticFulls)];
  const sizeAfterFull = { ours: await ourPlace.bytes(), restic: await resticPlace.bytes() };
  // S3 only: the same operations once more, into repositories reached through the request counter.
  const counted = places.kind === 's3' ? { ours: await places.create('ours-counted', { counted: true }), restic: await places.create('restic-counted', { counted: true }) } : undefined;
  if (counted) await resticInit(counted.restic);
  const countedFull = counted && (await countedBackups(image, counted));

  changeOnePercent(image);
  console.error('bench:backup: incremental backups');
  const ourIncremental = await ours('backup', ourRepository, image, String(DEFAULT_CHUNK_SIZE));
  const resticIncremental = await restic('-r', resticRepository, 'backup', image);
  const sizeAfterIncremental = { ours: await ourPlace.bytes(), restic: await resticPlace.bytes() };
  const countedIncremental = counted && (await countedBackups(image, counted));

  console.error('bench:backup: restores');
  // Bound by the disk's writes, the noisiest figure: ROUNDS rounds, the two tools in alternating
  // order, each into a new target; the medians are compared.
  const ourRestores: Measured[] = [];
  const resticRestores: Measured[] = [];
  // Context only: restic's restore and then a `sync` of what it wrote, the durability this engine's restore has.
  const resticSyncedRestores: { seconds: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const oursNow = () => ours('restore', ourRepository, ourIncremental.backupId!, join(dir, `restored-ours-${round}`)).then((m) => ourRestores.push(m));
    const resticNow = async () => {
      const restore = await restic('-r', resticRepository, 'restore', 'latest', '--target', join(dir, `restored-restic-${round}`));
      const syncStarted = performance.now();
      execFileSync('sync'); // not through measure(), which syncs before it starts its clock
      resticRestores.push(restore);
      resticSyncedRestores.push({ seconds: restore.seconds + (performance.now() - syncStarted) / 1000 });
    };
    await inAlternatingOrder(round, oursNow, resticNow);
  }
  const ourRestore = median(ourRestores);
  const resticRestore = median(resticRestores);
  const resticSyncedRestore = median(resticSyncedRestores);
  const same = execFileSync('cmp', [image, join(dir, 'restored-ours-0')]).length === 0;
  const countedRestore = counted && {
    ours: await ours('restore', counted.ours.ours, countedIncremental!.ours.backupId!, join(dir, 'restored-ours-counted')),
    restic: await restic('-r', counted.restic.restic, 'restore', 'latest', '--target', join(dir, 'restored-restic-counted')),
  };

  const chunkRows: string[] = [];
  for (const chunkSize of (args['chunk-sizes'] ?? '').split(',').filter(Boolean).map(Number)) {
    const place = await places.create(`chunks-${chunkSize}`);
    makeImage(image);
    const full = await ours('backup', place.ours, image, String(chunkSize));
    changeOnePercent(image);
    const incremental = await ours('backup', place.ours, image, String(chunkSize));
    chunkRows.push(`| ${chunkSize / 1024} KiB | ${rate(full.seconds).toFixed(0)} | ${rate(incremental.seconds).toFixed(0)} | ${((await place.bytes()) / MiB).toFixed(0)} | ${(Math.max(full.peakRssBytes, incremental.peakRssBytes) / MiB).toFixed(0)} |`);
    await place.remove();
  }

  const ratio = (a: number, b: number) => a / b;
  const row = (name: string, ourSeconds: number, theirSeconds: number, goal: number) => {
    const r = ratio(theirSeconds, ourSeconds);
    return `| ${name} | ${rate(ourSeconds).toFixed(0)} | ${rate(theirSeconds).toFixed(0)} | ${r.toFixed(2)} × | ≥ ${goal} × | ${r >= goal ? 'yes' : '**no**'} |`;
  };
  const peak = Math.max(...ourFulls.map((m) => m.peakRssBytes), ourIncremental.peakRssBytes, ...ourRestores.map((m) => m.peakRssBytes));
  const resticPeak = Math.max(...resticFulls.map((m) => m.peakRssBytes), resticIncremental.peakRssBytes, ...resticRestores.map((m) => m.peakRssBytes));
  // S3 requests per GiB stored: the counted full backup and incremental, over what that repository holds after both.
  const GiB = 1024 * MiB;
  const perGiB = (requests: number, bytes: number) => requests / (bytes / GiB);
  let s3Rows = '';
  if (counted && countedFull && countedIncremental && countedRestore) {
    const ourRequests = perGiB(countedFull.ours.requests + countedIncremental.ours.requests, await counted.ours.bytes());
    const resticRequests = perGiB(countedFull.restic.requests + countedIncremental.restic.requests, await counted.restic.bytes());
    s3Rows = `
| S3 requests per GiB stored (full + incremental: ${countedFull.ours.requests} + ${countedIncremental.ours.requests} against ${countedFull.restic.requests} + ${countedIncremental.restic.requests}) | ${ourRequests.toFixed(0)} | ${resticRequests.toFixed(0)} | ≤ restic | ${ourRequests <= resticRequests ? 'yes' : '**no**'} |
| S3 requests of a restore (context) | ${countedRestore.ours.requests} | ${countedRestore.restic.requests} | | |`;
    for (const place of [counted.ours, counted.restic]) await place.remove();
  }
  const store = places.kind === 's3' ? `both repositories in buckets of the S3 endpoint ${process.env.DBP_TEST_S3_ENDPOINT} (radosgw), reached directly by the timed runs; S3 requests counted in one more full backup, incremental and restore of each tool into repositories reached through a request-counting HTTP proxy (bench/support/s3-request-counter.ts), which would otherwise slow the timed runs, and most the tool that makes more requests; this engine's S3 store behind its local cache of index and manifests (kept between operations, as a CLI's is); restic with \`--no-cache\`` : 'both repositories in directories on the local disk';
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const markdown = `
## Backup engine (\`npm run bench:backup${places.kind === 's3' ? ' -- --repository s3' : ''}\`)

- Command: \`npm run bench:backup -- --size-mib ${sizeMiB}${args['chunk-sizes'] ? ` --chunk-sizes ${args['chunk-sizes']}` : ''}${places.kind === 's3' ? ' --repository s3' : ''}\`
- Store: ${store}
- Date: ${new Date().toISOString()}; commit ${commit} (the working tree may hold uncommitted changes)
- Machine: \`nproc\` ${cpus().length}, ${cpus()[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Node ${process.version}; restic ${execFileSync('restic', ['version'], { encoding: 'utf8' }).split(' ')[1]}; load average at start ${load} (the machine may have been shared with other work)
- Image: ${sizeMiB} MiB (${megabytes.toFixed(0)} MB): 1 MiB units, 40 % random, 30 % zeros, 30 % copies of 16 blocks; the incremental follows an overwrite of 1 % of its 4 KiB blocks at random offsets. Both tools encrypt; this engine with ${DEFAULT_CHUNK_SIZE / 1024} KiB chunks.
- Physical reference: \`cat\` reads the image at ${rate(cat.seconds).toFixed(0)} MB/s, \`sha256sum\` hashes it at ${rate(sha.seconds).toFixed(0)} MB/s. The image is in the page cache for every reader.
- Restore of the incremental backup byte-identical to the image: ${same ? 'yes' : '**no**'}

| Operation | this engine (MB/s) | restic (MB/s) | speed-up | goal | met? |
|---|--:|--:|--:|--:|:-:|
${row(`full backup (median of ${ROUNDS}: ${seconds(ourFulls)} s against ${seconds(resticFulls)} s)`, ourFull.seconds, resticFull.seconds, GOALS.full)}
${row('incremental backup', ourIncremental.seconds, resticIncremental.seconds, GOALS.incremental)}
${row(`restore (median of ${ROUNDS}: ${seconds(ourRestores)} s against ${seconds(resticRestores)} s)`, ourRestore.seconds, resticRestore.seconds, GOALS.restore)}

| Measure | this engine | restic | goal | met? |
|---|--:|--:|--:|:-:|
| stored after the full backup (MiB) | ${(sizeAfterFull.ours / MiB).toFixed(1)} | ${(sizeAfterFull.restic / MiB).toFixed(1)} | ≤ restic | ${sizeAfterFull.ours <= sizeAfterFull.restic ? 'yes' : '**no**'} |
| stored after the incremental (MiB) | ${(sizeAfterIncremental.ours / MiB).toFixed(1)} | ${(sizeAfterIncremental.restic / MiB).toFixed(1)} | ≤ restic | ${sizeAfterIncremental.ours <= sizeAfterIncremental.restic ? 'yes' : '**no**'} |
| peak RSS of any operation (MiB) | ${(peak / MiB).toFixed(0)} | ${(resticPeak / MiB).toFixed(0)} | ≤ ${GOALS.rssMiB} | ${peak / MiB <= GOALS.rssMiB ? 'yes' : '**no**'} |
| peak RSS of the full backups / the incremental / the restores (MiB) | ${peaksByOperation(ourFulls, [ourIncremental], ourRestores)} | ${peaksByOperation(resticFulls, [resticIncremental], resticRestores)} | | |${s3Rows}
${chunkRows.length > 0 ? `
Chunk sizes (this engine alone, a fresh repository each):

| chunk | full (MB/s) | incremental (MB/s) | stored (MiB) | peak RSS (MiB) |
|---|--:|--:|--:|--:|
${chunkRows.join('\n')}
` : ''}
Method: each operation runs in its own process (this engine compiled, from \`dist/\`); its time is the operation's own (this engine: from
the child's report, without Node's start-up; restic: the whole command, which includes its start-up
of well under a second) and its peak RSS the process's VmHWM. Throughput is the image's size over
that time, for the restore too. Before each operation \`sync\` writes back every dirty page (not timed),
so that no operation pays for the writes of the one before it (the image's, or the other tool's).
This engine's restore syncs the restored image to disk before it renames it into place; restic's
does not sync: the restore row compares against restic without its sync, as the goal is judged. For context,
restic's restore followed by a timed \`sync\` (the same durability) took ${resticSyncedRestores.map((m) => m.seconds.toFixed(1)).join(', ')} s, median
${resticSyncedRestore.seconds.toFixed(1)} s: ${ratio(resticSyncedRestore.seconds, ourRestore.seconds).toFixed(2)} × this engine's time. Full backups and restores are measured ${ROUNDS} times each, the two tools in alternating
order, each into a new repository or target, and their medians compared. An incremental backup cannot be
repeated on the same repository state, so it is measured once.
`;
  console.log(markdown);
  if (!args['dry-run']) writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), places.kind === 's3' ? 'backup-s3' : 'backup', markdown);
  for (const place of [ourPlace, resticPlace]) if (places.kind === 's3') await place.remove();
}

if (args.source === 'rbd') {
  // A disk on Ceph RBD (bench/backup-rbd.ts); this script's own work directory is not used.
  rmSync(dir, { recursive: true, force: true });
  if (args.changes !== 'image' && args.changes !== 'data') throw new Error(`--changes is image or data, not ${args.changes}`);
  await runRbdBench({ imageGiB: Number(args['image-gib']), dataGiB: Number(args['data-gib']), changes: args.changes, dir: args.dir, dryRun: args['dry-run'] ?? false });
} else {
  places = args.repository === 's3' ? await s3Places() : localPlaces(dir);
  try {
    await main();
  } finally {
    await places.close();
    if (args.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}
