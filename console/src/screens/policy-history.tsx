/**
 * One policy: its schedule, its runs (status, duration, bytes read and stored, a page at a time as
 * the API pages them), a chart of its stored size over time, and its backups with run now,
 * restore to a new disk and verify. Run, restore and verify are started as operations (`async=true`)
 * that the screen polls, showing a progress bar (bytes done of the total) and then the result.
 */
import { lazy, Suspense } from 'preact/compat';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiFailure, type Pagination } from '../api';
import type { SizePoint } from '../chart';
import { bytes, dateTime, scheduleText, seconds } from '../format';
import { href } from '../route';
import { can, useSession } from '../session-context';
import type { Backup, Operation, Policy, RunSummary } from '../types';
import { asFailure, ErrorMessage, Loading, Pager, ScreenHeading, TableHead, useLoad } from '../ui';
import { LastRun } from './overview';

const SizeChart = lazy(() => import('../chart'));

interface Work {
  label: string;
  started: number;
  bytesDone: number;
  bytesTotal: number;
  finished: boolean;
}

/** Starts an operation (a POST with `async: true`) and says, once it has succeeded, what it did. */
type Perform = (label: string, start: () => Promise<Operation>, describe: (operation: Operation) => string) => void;

const POLL_MS = 500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function started(method: string, path: string, body: Record<string, unknown> = {}): Promise<Operation> {
  return (await api<{ operation: Operation }>(method, path, { body: { ...body, async: true } })).operation;
}

/** The operation's state a poll later; a poll the service could not answer for now (unreachable, 429, 503) is tried again. */
async function polled(operation: Operation): Promise<Operation> {
  for (;;) {
    try {
      return (await api<{ operation: Operation }>('GET', `/ext/v1/operations/${operation.id}`)).operation;
    } catch (error) {
      const failure = asFailure(error);
      if (failure.status !== 0 && failure.status !== 429 && failure.status !== 503) throw failure;
      await sleep((failure.retryAfter ?? 2) * 1000);
    }
  }
}

export function PolicyHistory({ policyId }: { policyId: string }) {
  const session = useSession();
  const writes = can(session, 'disk_backup_policies');
  const [runsPage, setRunsPage] = useState(1);
  const [work, setWork] = useState<Work | null>(null);
  const [failure, setFailure] = useState<ApiFailure | null>(null);
  const [outcome, setOutcome] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);

  const policy = useLoad(() => api<{ disk_backup_policy: Policy }>('GET', `/core/v1/disk_backup_policies/${policyId}`).then((a) => a.disk_backup_policy), `${policyId}:${generation}`);
  const runs = useLoad(
    () => api<{ runs: RunSummary[]; pagination: Pagination }>('GET', `/ext/v1/disk_backup_policies/${policyId}/runs`, { query: { page: runsPage, per_page: 20 } }),
    `${policyId}:${runsPage}:${generation}`,
  );
  const backups = useLoad(() => api<{ backups: Backup[] }>('GET', `/ext/v1/disk_backup_policies/${policyId}/backups`).then((a) => a.backups), `${policyId}:${generation}`);

  // Polling stops when the screen goes away (the operation itself goes on in the service).
  const shown = useRef(true);
  useEffect(() => () => void (shown.current = false), []);

  const perform: Perform = async (label, start, describe) => {
    setFailure(null);
    setOutcome(null);
    const began = Date.now();
    const show = (operation: Operation) =>
      setWork({ label, started: began, bytesDone: operation.bytes_done, bytesTotal: operation.bytes_total, finished: operation.status !== 'running' });
    setWork({ label, started: began, bytesDone: 0, bytesTotal: 0, finished: false });
    try {
      let operation = await start();
      show(operation);
      while (operation.status === 'running' && shown.current) {
        await sleep(POLL_MS);
        operation = await polled(operation);
        show(operation);
      }
      if (operation.status === 'failed') {
        setWork(null);
        setFailure(new ApiFailure(0, 'operation_failed', `${label} failed: ${operation.error ?? 'no reason given'}`));
      } else if (operation.status === 'succeeded') {
        setOutcome(describe(operation));
      }
    } catch (error) {
      setWork(null);
      setFailure(asFailure(error));
    } finally {
      setGeneration((g) => g + 1);
    }
  };

  const runNow = () =>
    perform('Backing up now', () => started('POST', `/ext/v1/disk_backup_policies/${policyId}/run`), ({ run }) =>
      !run ? 'The run ended.' : run.status === 'succeeded' ? `Run ${run.id} succeeded: backup ${run.backups.map((b) => b.id).join(', ')} taken.` : `Run ${run.id} ${run.status}: ${run.error ?? ''}`,
    );
  const busy = work !== null && !work.finished;

  const loadedPolicy = policy.data;
  return (
    <section>
      <ScreenHeading title="Policy history">Policy {policyId}</ScreenHeading>
      {policy.error ? <ErrorMessage error={policy.error} onRetry={policy.reload} /> : null}
      {loadedPolicy ? (
        <div class="policy-summary">
          <p>
            Backs up the {loadedPolicy.target.type === 'Disk' ? 'disk' : 'virtual machine'} <strong>{loadedPolicy.target.value.name ?? loadedPolicy.target.value.id}</strong>{' '}
            {scheduleText(loadedPolicy.schedule)} ({session.organization.time_zone}), keeps {loadedPolicy.retention} backups, stores{' '}
            {bytes(loadedPolicy.total_size * 1e9)}.
            {loadedPolicy.schedule.next_invocation_at ? ` Next run: ${dateTime(loadedPolicy.schedule.next_invocation_at, session.organization.time_zone)}.` : ''}
          </p>
          {writes ? (
            <div class="actions">
              <button type="button" onClick={runNow} disabled={busy}>
                Run now
              </button>
              <a class="button" href={href(`/policies/${policyId}/edit`)}>
                Edit or delete
              </a>
            </div>
          ) : null}
        </div>
      ) : policy.loading ? (
        <Loading what="the policy" />
      ) : null}
      {work ? <Progress work={work} /> : null}
      {failure ? <ErrorMessage error={failure} /> : null}
      {outcome ? (
        <p class="message success" role="status">
          {outcome}
        </p>
      ) : null}

      <h2>Backups</h2>
      {backups.error ? <ErrorMessage error={backups.error} onRetry={backups.reload} /> : null}
      {backups.data ? <BackupTable backups={backups.data} writes={writes} busy={busy} perform={perform} /> : backups.loading ? <Loading what="the backups" /> : null}

      <h2>Stored size over time</h2>
      {backups.data && backups.data.length > 0 ? (
        <Suspense fallback={<Loading what="the chart" />}>
          <SizeChart points={sizePoints(backups.data)} label={sizeLabel(backups.data)} />
        </Suspense>
      ) : (
        <p class="muted">No backups yet.</p>
      )}
      <p class="muted">The sum of what each kept backup added to the repository, in the order they were taken.</p>

      <h2>Runs</h2>
      {runs.error ? <ErrorMessage error={runs.error} onRetry={runs.reload} /> : null}
      {runs.data ? (
        <>
          <RunTable runs={runs.data.runs} />
          <Pager label="Runs" pagination={runs.data.pagination} onPage={setRunsPage} />
        </>
      ) : runs.loading ? (
        <Loading what="the runs" />
      ) : null}
    </section>
  );
}

function sizePoints(backups: Backup[]): SizePoint[] {
  const ordered = [...backups].sort((a, b) => a.created_at - b.created_at);
  let total = 0;
  // uPlot needs strictly increasing x: backups taken in the same second are one point.
  const points: SizePoint[] = [];
  for (const backup of ordered) {
    total += backup.new_stored_size;
    const last = points[points.length - 1];
    if (last && last.at === backup.created_at) last.bytes = total;
    else points.push({ at: backup.created_at, bytes: total });
  }
  return points;
}

function sizeLabel(backups: Backup[]): string {
  const points = sizePoints(backups);
  const last = points[points.length - 1]!;
  return `Chart of stored size over time: ${points.length} points, ${bytes(last.bytes)} stored by ${dateTime(last.at)}`;
}

/** The operation's bar: bytes done of the total and the percentage (no value while the total is not known yet), then its end. */
function Progress({ work }: { work: Work }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (work.finished) return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [work.finished]);
  const known = work.bytesTotal > 0;
  const percent = work.finished ? 100 : known ? Math.min(100, Math.floor((work.bytesDone / work.bytesTotal) * 100)) : null;
  const amount = known ? `${bytes(work.bytesDone)} of ${bytes(work.bytesTotal)}` : 'starting';
  // The clock stops with the operation: its last tick is when it was seen done.
  const elapsed = Math.max(0, Math.floor((now - work.started) / 1000));
  const text = `${work.label}: ${amount}${percent === null ? '' : ` (${percent}%)`}${work.finished ? ', done' : ''}`;
  return (
    <div class="message progress">
      <div
        class="bar"
        role="progressbar"
        aria-label={work.label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent ?? undefined}
        aria-valuetext={text}
      >
        <div class="fill" style={{ width: `${percent ?? 0}%` }} />
      </div>
      <span aria-hidden="true">
        {text}, {elapsed} s
      </span>
    </div>
  );
}

function BackupTable({ backups, writes, busy, perform }: { backups: Backup[]; writes: boolean; busy: boolean; perform: Perform }) {
  if (backups.length === 0) return <p class="muted">No backups yet.</p>;
  return (
    <table>
      <TableHead caption="The policy's backups, newest first" columns={['Backup', 'Taken', 'Disk size', 'Added to storage', 'Last verification', writes && 'Actions']} />
      <tbody>
        {backups.map((backup) => (
          <tr key={backup.id}>
            <th scope="row">
              {backup.id}
              <small>
                disk {backup.disk_id}, {backup.consistency}
              </small>
            </th>
            <td>{dateTime(backup.created_at)}</td>
            <td>{bytes(backup.size)}</td>
            <td>{bytes(backup.new_stored_size)}</td>
            <td>
              {backup.last_verification ? (
                <>
                  <span class={`badge ${backup.last_verification.outcome === 'ok' ? 'succeeded' : 'failed'}`}>{backup.last_verification.outcome}</span>{' '}
                  <small>{dateTime(backup.last_verification.verified_at)}</small>
                </>
              ) : (
                <span class="muted">never</span>
              )}
            </td>
            {writes ? (
              <td>
                <BackupActions backup={backup} busy={busy} perform={perform} />
              </td>
            ) : null}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function BackupActions({ backup, busy, perform }: { backup: Backup; busy: boolean; perform: Perform }) {
  const [name, setName] = useState(`restored-${backup.id.slice(-6)}`);
  const verify = () =>
    perform(`Verifying ${backup.id}`, () => started('POST', `/ext/v1/backups/${backup.id}/verify`), ({ verification }) =>
      !verification
        ? `Backup ${backup.id} verified.`
        : verification.ok
          ? `Backup ${backup.id} verified: ${verification.chunks_checked} chunks read and authenticated.`
          : `Backup ${backup.id} is damaged: ${verification.bad_chunks.length} bad chunks of ${verification.chunks_checked}.`,
    );
  const restore = (event: Event) => {
    event.preventDefault();
    perform(`Restoring ${backup.id} to a new disk`, () => started('POST', `/ext/v1/backups/${backup.id}/restore`, { name }), ({ disk }) =>
      disk ? `Backup ${backup.id} restored to the new disk ${disk.name} (${disk.id}).` : `Backup ${backup.id} restored.`,
    );
  };
  return (
    <div class="backup-actions">
      <button type="button" onClick={verify} disabled={busy} aria-label={`Verify ${backup.id}`}>
        Verify
      </button>
      <form onSubmit={restore} class="inline" aria-label={`Restore ${backup.id}`}>
        <label for={`restore-${backup.id}`}>New disk name</label>
        <input id={`restore-${backup.id}`} value={name} onInput={(event) => setName(event.currentTarget.value)} required />
        <button type="submit" disabled={busy}>
          Restore to a new disk
        </button>
      </form>
    </div>
  );
}

function RunTable({ runs }: { runs: RunSummary[] }) {
  if (runs.length === 0) return <p class="muted">No runs yet.</p>;
  return (
    <table>
      <TableHead caption="Runs, newest first" columns={['Run', 'Outcome', 'For', 'Duration', 'Read', 'Stored']} />
      <tbody>
        {runs.map((run) => (
          <tr key={run.id}>
            <th scope="row">{run.id}</th>
            <td>
              <LastRun run={run} />
            </td>
            <td>{dateTime(run.scheduled_at)}</td>
            <td>{run.started_at !== null && run.finished_at !== null ? seconds(run.finished_at - run.started_at) : '–'}</td>
            <td>{bytes(run.bytes_read)}</td>
            <td>{bytes(run.bytes_stored)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
