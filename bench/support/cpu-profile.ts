/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): where the CPU went by area (this
 * project's src/, each package, Node internals, GC, idle), the hottest functions by self time, and
 * — most useful for deciding what to change — each sample charged to the nearest frame in src/ on
 * its stack (so that, e.g., Kysely's query compilation shows up under the service method that
 * built the query).
 *
 *   node --import tsx bench/support/cpu-profile.ts PROFILE.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Milliseconds of samples, busy (not idle). */
  readonly busyMs: number;
  readonly totalMs: number;
  readonly areas: readonly Row[];
  readonly selfTime: readonly Row[];
  readonly nearestSrc: readonly Row[];
}

export interface Row {
  readonly name: string;
  readonly ms: number;
  /** Share of busy time. */
  readonly share: number;
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }

  const areas = new Map<string, number>();
  const self = new Map<string, number>();
  const nearest = new Map<string, number>();
  let total = 0;
  let idle = 0;
  const add = (map: Map<string, number>, key: string, ms: number) => map.set(key, (map.get(key) ?? 0) + ms);

  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; the time a sample stands for is the next delta.
    const ms = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(profile.samples[i]!)!;
    total += ms;
    const area = areaOf(node.callFrame);
    if (area === '(idle)') {
      idle += ms;
      continue;
    }
    add(areas, area, ms);
    add(self, `${frameName(node.callFrame)}  [${area}]`, ms);

    let id: number | undefined = node.id;
    let charged = '(no src frame on the stack)';
    while (id !== undefined) {
      const frame = byId.get(id)!.callFrame;
      if (areaOf(frame) === 'src') {
        charged = frameName(frame);
        break;
      }
      id = parent.get(id);
    }
    add(nearest, charged, ms);
  }

  const busy = total - idle;
  const rows = (map: Map<string, number>, limit: number): Row[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, ms]) => ({ name, ms, share: busy > 0 ? ms / busy : 0 }));
  return { busyMs: busy, totalMs: total, areas: rows(areas, 20), selfTime: rows(self, top), nearestSrc: rows(nearest, top) };
}

function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (functionName === '(idle)') return '(idle)';
  if (functionName === '(garbage collector)') return '(gc)';
  if (functionName === '(program)' || functionName === '(root)') return '(program)';
  if (url === '') return '(native)';
  if (url.startsWith('node:')) return 'node';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (/\/src\//.test(url)) return 'src';
  if (/\/bench\//.test(url)) return 'bench';
  return 'other';
}

function frameName(frame: CallFrame): string {
  let where = frame.url;
  const src = where.search(/\/(src|bench)\//);
  if (src >= 0) where = where.slice(src + 1);
  else if (where.includes('/node_modules/')) where = where.slice(where.lastIndexOf('/node_modules/') + '/node_modules/'.length);
  return `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`;
}

export function formatProfileSummary(summary: ProfileSummary): string {
  const table = (title: string, rows: readonly Row[]) =>
    [
      `${title}`,
      ...rows.map((row) => `  ${(row.share * 100).toFixed(1).padStart(5)} %  ${row.ms.toFixed(0).padStart(7)} ms  ${row.name}`),
    ].join('\n');
  return [
    `busy ${summary.busyMs.toFixed(0)} ms of ${summary.totalMs.toFixed(0)} ms sampled (shares below are of busy time)`,
    table('By area (self time):', summary.areas),
    table('Hottest functions (self time):', summary.selfTime),
    table('Charged to the nearest src/ frame on the stack:', summary.nearestSrc),
  ].join('\n\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  for (const file of positionals) {
    process.stdout.write(`== ${file}\n${formatProfileSummary(summarizeProfile(file, Number(values.top)))}\n`);
  }
}
