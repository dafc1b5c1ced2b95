/** How the console writes times, sizes and durations. */
const formatters = new Map<string, Intl.DateTimeFormat>();

/** `at` (Unix seconds) on the wall clock of `timeZone` (the viewer's when left out), with the zone's abbreviation. */
export function dateTime(at: number, timeZone?: string): string {
  const key = timeZone ?? '';
  let format = formatters.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', {
      year: 'numeric', month: 'short', day: '2-digit', weekday: 'short',
      hour: '2-digit', minute: '2-digit', timeZoneName: 'short',
      ...(timeZone ? { timeZone } : {}),
    });
    formatters.set(key, format);
  }
  return format.format(new Date(at * 1000));
}

export function viewerTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];

/** Decimal units, as the API's `total_size` (GB) is. */
export function bytes(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  let unit = 0;
  let scaled = value;
  while (scaled >= 1000 && unit < UNITS.length - 1) {
    scaled /= 1000;
    unit++;
  }
  return `${unit === 0 ? scaled : scaled.toFixed(scaled >= 100 ? 0 : 1)} ${UNITS[unit]}`;
}

export function seconds(value: number | null): string {
  if (value === null) return '–';
  if (value < 60) return `${value} s`;
  const minutes = Math.floor(value / 60);
  return minutes < 60 ? `${minutes} min ${value % 60} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function scheduleText(schedule: { interval: string; frequency?: number | undefined; time?: number | undefined; minute?: number | undefined }): string {
  const every = schedule.frequency && schedule.frequency > 1 ? `every ${schedule.frequency} ` : '';
  const unit = { hourly: 'hours', daily: 'days', weekly: 'weeks', monthly: 'months' }[schedule.interval] ?? schedule.interval;
  const base = every ? `${every}${unit}` : schedule.interval;
  if (schedule.minute === undefined) return base;
  const minute = String(schedule.minute).padStart(2, '0');
  if (schedule.interval === 'hourly') return `${base} at :${minute}`;
  return `${base} at ${String(schedule.time ?? 0).padStart(2, '0')}:${minute}`;
}

/** `1 disk`, `2 disks`. */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}
