/**
 * Where the machine's CPU went during a measurement: the server under test (its own
 * process.cpuUsage(), asked over IPC), this process (the load generator), and everything else on
 * the machine (from /proc/stat, Linux only) — other people's work on a shared machine shows up
 * there, and a busy neighbour makes req/s figures unreliable while CPU per request stays meaningful.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface CpuSnapshot {
  readonly at: bigint;
  readonly server: NodeJS.CpuUsage;
  readonly generator: NodeJS.CpuUsage;
  /** Busy and total jiffies of the whole machine, or null where /proc/stat is missing. */
  readonly machine: { readonly busy: number; readonly total: number } | null;
}

export interface CpuWindow {
  readonly seconds: number;
  /** In cores (1 = one core fully busy over the window). */
  readonly server: number;
  readonly generator: number;
  /** Busy CPU of everything else on the machine, in cores; null when unknown. */
  readonly others: number | null;
  /** Microseconds of server CPU (user + system) per completed request. */
  serverMicrosecondsPer(requests: number): number;
}

export async function cpuSnapshot(server: { cpuUsage(): Promise<NodeJS.CpuUsage> }): Promise<CpuSnapshot> {
  return { at: process.hrtime.bigint(), server: await server.cpuUsage(), generator: process.cpuUsage(), machine: machineJiffies() };
}

export function cpuWindow(start: CpuSnapshot, end: CpuSnapshot): CpuWindow {
  const seconds = Number(end.at - start.at) / 1e9;
  const used = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => (b.user - a.user + (b.system - a.system)) / 1e6;
  const serverSeconds = used(start.server, end.server);
  const generatorSeconds = used(start.generator, end.generator);
  let others: number | null = null;
  if (start.machine && end.machine && end.machine.total > start.machine.total) {
    const busyCores = ((end.machine.busy - start.machine.busy) / (end.machine.total - start.machine.total)) * availableParallelism();
    others = Math.max(0, busyCores - (serverSeconds + generatorSeconds) / seconds);
  }
  return {
    seconds,
    server: serverSeconds / seconds,
    generator: generatorSeconds / seconds,
    others,
    serverMicrosecondsPer: (requests) => (requests > 0 ? (serverSeconds * 1e6) / requests : NaN),
  };
}

function machineJiffies(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[];
    const busy = user! + nice! + system! + irq! + softirq! + steal!;
    return { busy, total: busy + idle! + iowait! };
  } catch {
    return null;
  }
}
