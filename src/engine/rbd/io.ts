/**
 * Image bytes of RBD: no librbd binding exists for Node, and `rbd map` needs a kernel module, so a
 * small Python program using Debian's python3-rbd (librbd's own binding) does the reads and writes.
 * It runs as a child process for the length of one backup or restore and speaks a line protocol on
 * its standard input, with raw bytes on its output:
 *
 * - read mode (`read POOL IMAGE SNAPSHOT [CHUNK]`): each line `OFFSET LENGTH` is answered, in the
 *   order asked (requests may be pipelined), by exactly LENGTH bytes of the snapshot (holes read as
 *   zeros). With CHUNK, the range is taken as chunks of CHUNK bytes (the last may be short) and the
 *   answer is one flag byte a chunk (0: all zeros, 1: its bytes follow), then the bytes of the chunks
 *   flagged 1, back to back: the zeros of sparse objects never cross the pipe.
 * - diff mode (`diff POOL IMAGE SNAPSHOT [FROM]`): one JSON line, the snapshot's size and the extents
 *   that differ from the user snapshot FROM (all allocated extents without it).
 *
 * SNAPSHOT is `user:NAME` or `group:GROUP:NAME` (the image's snapshot made by the group snapshot NAME
 * of GROUP: the `rbd` tool cannot name those, librbd finds them by id).
 * - write mode (`write POOL IMAGE`): `OFFSET LENGTH` then LENGTH bytes, any number of times; `end`
 *   flushes the image and is answered by `ok`.
 *
 * Failures go to its standard error as one line, which the error thrown here carries.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { RbdImageName } from './names.js';

const SCRIPT = String.raw`
import os, sys
try:
    import rados, rbd
except ImportError as error:
    sys.stderr.write("python3-rbd is not installed for %s (%s)\n" % (sys.executable, error))
    sys.exit(3)

import json
mode, pool, name = sys.argv[1], sys.argv[2], sys.argv[3]
snapshot = sys.argv[4] if len(sys.argv) > 4 else None
inp, out = sys.stdin.buffer, sys.stdout.buffer

def set_snapshot(image, spec):
    kind, _, rest = spec.partition(":")
    if kind == "user":
        image.set_snap(rest)
        return
    group, _, snap = rest.partition(":")
    for info in image.list_snaps():
        if info.get("namespace") == rbd.RBD_SNAP_NAMESPACE_TYPE_GROUP:
            ns = image.snap_get_group_namespace(info["id"])
            if ns["name"] == group and ns["snap_name"] == snap:
                image.set_snap_by_id(info["id"])
                return
    raise IOError("no snapshot of group %s named %s on image %s" % (group, snap, name))

def read_pipelined(image, chunk):
    # Up to WINDOW reads in flight in librbd (each waits on the cluster, not on this process);
    # answered in the order asked by a writer thread.
    import threading
    zero_runs = {}

    def send(data):
        if not chunk:
            out.write(data)
            return
        # startswith(zeros, at) compares in place (no copy of the chunk).
        view = memoryview(data)
        flags = bytearray()
        kept = []
        for at in range(0, len(data), chunk):
            length = min(chunk, len(data) - at)
            zeros = zero_runs.get(length)
            if zeros is None:
                zeros = zero_runs[length] = bytes(length)
            if data.startswith(zeros, at):
                flags.append(0)
            else:
                flags.append(1)
                kept.append(view[at:at + length])
        out.write(flags)
        for part in kept:
            out.write(part)
    WINDOW = 32
    room = threading.Semaphore(WINDOW)
    ready = threading.Condition()
    answers = {}
    asked = [0, False]  # reads asked for, and whether the input has ended

    def fail(message):
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        os._exit(1)

    def answer():
        seq = 0
        while True:
            with ready:
                while seq not in answers and not (asked[1] and seq == asked[0]):
                    ready.wait()
                if seq not in answers:
                    return
                data = answers.pop(seq)
            try:
                send(data)
                out.flush()
            except BrokenPipeError:
                os._exit(0)
            room.release()
            seq += 1

    writer = threading.Thread(target=answer)
    writer.start()
    for line in inp:
        offset, length = (int(x) for x in line.split())
        room.acquire()
        seq = asked[0]
        asked[0] += 1

        def done(completion, data, seq=seq, offset=offset, length=length):
            if completion.get_return_value() < 0 or data is None or len(data) != length:
                fail("IOError: read at %d of %d bytes failed (%d)" % (offset, length, completion.get_return_value()))
            with ready:
                answers[seq] = data
                ready.notify()

        image.aio_read(offset, length, done)
    with ready:
        asked[1] = True
        ready.notify()
    writer.join()

try:
    cluster = rados.Rados(conffile=os.environ.get("CEPH_CONF", ""))
    cluster.connect(timeout=30)
    ioctx = cluster.open_ioctx(pool)
    image = rbd.Image(ioctx, name, read_only=(mode != "write"))
    try:
        if snapshot is not None:
            set_snapshot(image, snapshot)
        if mode == "diff":
            extents = []
            size = image.size()
            base = sys.argv[5] if len(sys.argv) > 5 else None
            image.diff_iterate(0, size, base, lambda offset, length, exists: extents.append([offset, length, bool(exists)]))
            out.write(json.dumps({"size": size, "extents": extents}).encode() + b"\n")
            out.flush()
        elif mode == "read":
            read_pipelined(image, int(sys.argv[5]) if len(sys.argv) > 5 else 0)
        else:
            while True:
                line = inp.readline()
                if not line or line.strip() == b"end":
                    break
                offset, length = (int(x) for x in line.split())
                data = inp.read(length)
                if len(data) != length:
                    raise IOError("the input ended inside a write")
                image.write(data, offset)
            image.flush()
            out.write(b"ok\n")
            out.flush()
    finally:
        image.close()
        ioctx.close()
        cluster.shutdown()
except BrokenPipeError:
    sys.exit(0)
except Exception as error:
    sys.stderr.write("%s: %s\n" % (type(error).__name__, error))
    sys.exit(1)
`;

/** DBP_PYTHON, else Debian's /usr/bin/python3 (where python3-rbd is installed), else python3 on the PATH. */
function python(): string {
  return process.env.DBP_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
}

type Helper = ChildProcessByStdio<Writable, Readable, Readable>;

function startHelper(args: readonly string[]): { child: Helper; ended: Promise<Error | undefined> } {
  const child = spawn(python(), ['-c', SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-4000)));
  child.stdin.on('error', () => {}); // a helper that died is reported by `ended`
  const ended = new Promise<Error | undefined>((resolve) => {
    child.on('error', (error) => resolve(new Error(`Cannot start ${python()} for RBD I/O: ${error.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(undefined);
      const said = stderr.trim().split('\n').at(-1) ?? '';
      resolve(new Error(`RBD I/O on ${args[1]}/${args[2]} failed: ${said || `the helper ended (${signal ?? `exit ${code}`})`}`));
    });
  });
  return { child, ended };
}

/** A snapshot of an image: one of its own (`rbd snap create`), or its part of a group snapshot. */
export type SnapshotRef = { readonly kind: 'user'; readonly name: string } | { readonly kind: 'group'; readonly group: string; readonly name: string };

function snapshotArgument(snapshot: SnapshotRef): string {
  return snapshot.kind === 'user' ? `user:${snapshot.name}` : `group:${snapshot.group}:${snapshot.name}`;
}

/**
 * The snapshot's size and the extents that differ from the image's user snapshot `from` (all allocated
 * extents without it): what `rbd diff` answers, for snapshots the tool cannot name (group snapshots).
 */
export async function rbdDiffAt(name: RbdImageName, snapshot: SnapshotRef, from?: string): Promise<{ size: number; extents: { offset: number; length: number; exists: boolean }[] }> {
  const helper = startHelper(['diff', name.pool, name.image, snapshotArgument(snapshot), ...(from === undefined ? [] : [from])]);
  let output = '';
  helper.child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  helper.child.stdin.end();
  const error = await helper.ended;
  if (error) throw error;
  const answer = JSON.parse(output) as { size: number; extents: [number, number, boolean][] };
  return { size: answer.size, extents: answer.extents.map(([offset, length, exists]) => ({ offset, length, exists })) };
}

interface PendingRead {
  readonly into: Uint8Array;
  /** Chunked reads: the flag bytes still to come, and those come so far. */
  flagsWanted: number;
  readonly flags: number[];
  /** Where the bytes still to come go: [start, end) spans of `into`, in order. */
  spans: [number, number][];
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Reads byte ranges of an image as of one of its snapshots. */
export class RbdSnapshotReader {
  private readonly pending: PendingRead[] = [];
  private failure: Error | undefined;

  private constructor(
    private readonly helper: { child: Helper; ended: Promise<Error | undefined> },
    private readonly chunkSize: number | undefined,
  ) {
    helper.child.stdout.on('data', (data: Buffer) => this.received(data));
    void helper.ended.then((error) => this.fail(error ?? new Error('The RBD reader ended')));
  }

  /**
   * With `chunkSize`, reads are asked for in whole chunks (offsets multiples of it) and the chunks
   * that are all zeros come as a flag only (see the read mode above); the bytes read are the same.
   */
  static open(name: RbdImageName, snapshot: SnapshotRef, chunkSize?: number): RbdSnapshotReader {
    const args = ['read', name.pool, name.image, snapshotArgument(snapshot), ...(chunkSize === undefined ? [] : [String(chunkSize)])];
    return new RbdSnapshotReader(startHelper(args), chunkSize);
  }

  /** Bytes [offset, offset + length) of the snapshot. */
  async read(offset: number, length: number): Promise<Buffer> {
    const bytes = Buffer.allocUnsafe(length);
    await this.readInto(offset, bytes);
    return bytes;
  }

  /** Bytes [offset, offset + into.length) of the snapshot, into `into` (every byte of it). */
  readInto(offset: number, into: Uint8Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const flagsWanted = this.chunkSize === undefined ? 0 : Math.ceil(into.length / this.chunkSize);
    return new Promise((resolve, reject) => {
      this.pending.push({ into, flagsWanted, flags: [], spans: flagsWanted > 0 ? [] : [[0, into.length]], resolve, reject });
      this.helper.child.stdin.write(`${offset} ${into.length}\n`);
    });
  }

  async close(): Promise<void> {
    this.helper.child.stdin.end();
    await this.helper.ended;
  }

  private received(data: Buffer): void {
    let at = 0;
    while (at < data.length) {
      const read = this.pending[0];
      if (!read) return this.fail(new Error('The RBD reader sent bytes nobody asked for'));
      if (read.flagsWanted > 0) {
        const take = Math.min(read.flagsWanted, data.length - at);
        for (let i = 0; i < take; i++) read.flags.push(data[at + i]!);
        at += take;
        read.flagsWanted -= take;
        if (read.flagsWanted === 0) read.spans = this.spansOf(read);
      } else {
        const span = read.spans[0]!;
        const take = Math.min(span[1] - span[0], data.length - at);
        read.into.set(data.subarray(at, at + take), span[0]);
        span[0] += take;
        at += take;
        if (span[0] === span[1]) read.spans.shift();
      }
      if (read.flagsWanted === 0 && read.spans.length === 0) {
        this.pending.shift();
        read.resolve();
      }
    }
  }

  /** A chunked read's flags come: its zero chunks zeroed, and the spans the bytes that follow fill. */
  private spansOf(read: PendingRead): [number, number][] {
    const spans: [number, number][] = [];
    const chunk = this.chunkSize!;
    read.flags.forEach((flag, index) => {
      const start = index * chunk;
      const end = Math.min(start + chunk, read.into.length);
      if (flag === 0) return read.into.fill(0, start, end);
      const last = spans.at(-1);
      if (last && last[1] === start) last[1] = end;
      else spans.push([start, end]);
    });
    return spans;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const read of this.pending.splice(0)) read.reject(this.failure);
  }
}

/** Writes byte ranges into an image (a restore); `finish` flushes it. */
export class RbdImageWriter {
  private constructor(private readonly helper: { child: Helper; ended: Promise<Error | undefined> }) {}

  static open(name: RbdImageName): RbdImageWriter {
    return new RbdImageWriter(startHelper(['write', name.pool, name.image]));
  }

  /** Queues the bytes for `offset`; resolves once the pipe has room for more. */
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    const stdin = this.helper.child.stdin;
    stdin.write(`${offset} ${bytes.length}\n`);
    if (!stdin.write(bytes)) {
      const stop = await Promise.race([new Promise<undefined>((resolve) => stdin.once('drain', () => resolve(undefined))), this.helper.ended]);
      if (stop) throw stop;
    }
  }

  /** Flushes the image and ends the helper; throws what it failed on. */
  async finish(): Promise<void> {
    this.helper.child.stdin.end('end\n');
    const error = await this.helper.ended;
    if (error) throw error;
  }

  /** Ends the helper without finishing (a failed restore). */
  async abort(): Promise<void> {
    this.helper.child.kill('SIGKILL');
    await this.helper.ended;
  }
}
