/**
 * Progress of long operations: a bar with bytes, rate and ETA redrawn on a terminal (stderr), or a
 * plain line every few seconds otherwise (logs, pipes).
 */
import type { Progress } from '../engine/repository/index.js';

const LOG_EVERY_MS = 5_000;
const REDRAW_EVERY_MS = 100;

export function progressReporter(label: string, stream: NodeJS.WriteStream = process.stderr): { update(progress: Progress): void; done(): void } {
  const started = Date.now();
  let last = 0;
  let lastProgress: Progress | undefined;
  const line = (progress: Progress) => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    const rate = progress.bytesDone / seconds;
    const eta = rate > 0 ? Math.max(progress.bytesTotal - progress.bytesDone, 0) / rate : 0;
    const share = progress.bytesTotal > 0 ? progress.bytesDone / progress.bytesTotal : 1;
    return { share, text: `${label} ${bytes(progress.bytesDone)} / ${bytes(progress.bytesTotal)}  ${bytes(rate)}/s  ETA ${Math.ceil(eta)} s` };
  };
  return {
    update(progress) {
      lastProgress = progress;
      const now = Date.now();
      if (now - last < (stream.isTTY ? REDRAW_EVERY_MS : LOG_EVERY_MS)) return;
      last = now;
      const { share, text } = line(progress);
      if (stream.isTTY) {
        const width = 24;
        const filled = Math.round(share * width);
        stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}% ${text}\u001b[K`);
      } else {
        stream.write(`${text}\n`);
      }
    },
    done() {
      if (lastProgress && stream.isTTY) stream.write(`\r${line(lastProgress).text}  done\u001b[K\n`);
    },
  };
}

function bytes(count: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = count;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
