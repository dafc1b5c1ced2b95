/**
 * BENCHMARKS.md holds one section per benchmark, each between its own markers
 * (`<!-- bench:NAME -->` … `<!-- /bench:NAME -->`). A benchmark rewrites only its own section:
 * in place when the markers exist, else appended; everything else in the file is kept as it is.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const PREAMBLE = `# Benchmarks

One section per benchmark. Each section is written by its own script, between its
\`<!-- bench:NAME -->\` and \`<!-- /bench:NAME -->\` markers; re-running a benchmark replaces only
its own section, so edit outside the markers (or add a new section with new markers).
`;

export function writeBenchmarkSection(file: string, name: string, markdown: string): void {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const section = `${open}\n${markdown.trim()}\n${close}`;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : PREAMBLE;
  const start = current.indexOf(open);
  const end = current.indexOf(close, start + open.length);
  let next: string;
  if (start >= 0 && end >= 0) {
    next = current.slice(0, start) + section + current.slice(end + close.length);
  } else if (start >= 0 || current.includes(close)) {
    throw new Error(`${file}: the ${name} section has only one of its markers; fix the file by hand`);
  } else {
    next = `${current.trimEnd()}\n\n${section}\n`;
  }
  // Written beside the file, then renamed over it: a reader never sees half a file.
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, next);
  renameSync(temporary, file);
}
