/**
 * One policy: its schedule, its runs (status, duration, bytes read and stored, a page at a time as
 * the API pages them), a chart of its stored size over time, and its backups with run now,
 * restore to a new disk and verify. Run, restore and verify answer when they are done: meanwhile
 * the screen shows that they are under way and for how long.
 */
import { lazy, Suspense } from 'preact/compat';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiFailure, type Pagination } from '../api';
import type { SizePoint } from '../chart';
import { bytes, dateTime, scheduleText, seconds } from '../format';
import { href } from '../route';
import { can, useSession } from '../session-context';
import type { Backup, Policy, RunSummary } from '../types';
import { asFailure, ErrorMessage, Loading, Pager, ScreenHeading, useLoad } from '../ui';
import { LastRun } from './overview';

const SizeChart = lazy(() => import('../chart'));

interface Work {
  label: string;
  started: number;
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

  const perform = async (label: string, action: () => Promise<string>) => {
    setFailure(null);
    setOutcome(null);
    setWork({ label, started: Date.now() });
    try {
      setOutcome(await action());
    } catch (error) {
      setFailure(asFailure(error));
    } finally {
      setWork(null);
      setGeneration((g) => g + 1);
    }
  };

  const runNow = () =>
    perform('Backing up now', async () => {
      const { run } = await api<{ run: { id: string; status: string; error: string | null; backups: { id: string }[] } }>(
        'POST',
        `/ext/v1/disk_backup_policies/${policyId}/run`,
      );
      return run.status === 'succeeded' ? `Run ${run.id} succeeded: backup ${run.backups.map((b) => b.id).join(', ')} taken.` : `Run ${run.id} ${run.status}: ${run.error ?? ''}`;
    });

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
              <button type="button" onClick={runNow} disabled={work !== null}>
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
      {backups.data ? <BackupTable backups={backups.data} writes={writes} busy={work !== null} perform={perform} /> : backups.loading ? <Loading what="the backups" /> : null}

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

function Progress({ work }: { work: Work }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, []);
  return (
    <div class="message progress" role="status">
      <progress aria-label={work.label} />
      <span>
        {work.label}… {Math.floor((now - work.started) / 1000)} s
      </span>
    </div>
  );
}

function BackupTable({ backups, writes, busy, perform }: { backups: Backup[]; writes: boolean; busy: boolean; perform: (label: string, action: () => Promise<string>) => void }) {
  if (backups.length === 0) return <p class="muted">No backups yet.</p>;
  return (
    <table>
      <caption>The policy's backups, newest first</caption>
      <thead>
        <tr>
          <th scope="col">Backup</th>
          <th scope="col">Taken</th>
          <th scope="col">Disk size</th>
          <th scope="col">Added to storage</th>
          <th scope="col">Last verification</th>
          {writes ? <th scope="col">Actions</th> : null}
        </tr>
      </thead>
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

function BackupActions({ backup, busy, perform }: { backup: Backup; busy: boolean; perform: (label: string, action: () => Promise<string>) => void }) {
  const [name, setName] = useState(`restored-${backup.id.slice(-6)}`);
  const verify = () =>
    perform(`Verifying ${backup.id}`, async () => {
      const { verification } = await api<{ verification: { ok: boolean; chunks_checked: number; bad_chunks: unknown[] } }>('POST', `/ext/v1/backups/${backup.id}/verify`);
      return verification.ok
        ? `Backup ${backup.id} verified: ${verification.chunks_checked} chunks read and authenticated.`
        : `Backup ${backup.id} is damaged: ${verification.bad_chunks.length} bad chunks of ${verification.chunks_checked}.`;
    });
  const restore = (event: Event) => {
    event.preventDefault();
    perform(`Restoring ${backup.id} to a new disk`, async () => {
      const { disk } = await api<{ disk: { id: string; name: string } }>('POST', `/ext/v1/backups/${backup.id}/restore`, { body: { name } });
      return `Backup ${backup.id} restored to the new disk ${disk.name} (${disk.id}).`;
    });
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
      <caption>Runs, newest first</caption>
      <thead>
        <tr>
          <th scope="col">Run</th>
          <th scope="col">Outcome</th>
          <th scope="col">For</th>
          <th scope="col">Duration</th>
          <th scope="col">Read</th>
          <th scope="col">Stored</th>
        </tr>
      </thead>
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
