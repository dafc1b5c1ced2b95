/**
 * The organization at a glance: its disks (a page at a time, as the API pages them) with the policies
 * that protect them (their own and their virtual machine's), the next run in the organization's time
 * zone and the viewer's, the last run's outcome and the stored size. Unprotected disks stand out.
 */
import { useState } from 'preact/hooks';
import { allPages, api, type Pagination } from '../api';
import { bytes, count, dateTime, scheduleText, viewerTimeZone } from '../format';
import { go, href } from '../route';
import { can, canRead, useSession } from '../session-context';
import type { Disk, Policy, RunSummary, VirtualMachine } from '../types';
import { ErrorMessage, Loading, Notice, Pager, ScreenHeading, TableHead, useLoad } from '../ui';

const PER_PAGE = 100;

interface OverviewData {
  policies: Policy[];
  lastRuns: Map<string, RunSummary>;
  disks: { disks: Disk[]; pagination: Pagination } | null;
}

export function Overview({ page }: { page: number }) {
  const session = useSession();
  const org = session.organization;
  const readsPolicies = canRead(session, 'disk_backup_policies');
  const readsDisks = canRead(session, 'disks');
  const loaded = useLoad<OverviewData>(async () => {
    const [policies, lastRuns, disks] = await Promise.all([
      readsPolicies ? allPages<Policy>(`/core/v1/organizations/${org.id}/disk_backup_policies`, 'disk_backup_policies') : Promise.resolve([]),
      readsPolicies ? api<{ last_runs: RunSummary[] }>('GET', `/ext/v1/organizations/${org.id}/last_runs`) : Promise.resolve({ last_runs: [] }),
      readsDisks
        ? // The Core API answers this list under `disk`, not `disks`.
          api<{ disk: Disk[]; pagination: Pagination }>('GET', `/core/v1/organizations/${org.id}/disks`, { query: { page, per_page: PER_PAGE } }).then(
            (answer) => ({ disks: answer.disk, pagination: answer.pagination }),
          )
        : Promise.resolve(null),
    ]);
    return { policies, lastRuns: new Map(lastRuns.last_runs.map((run) => [run.disk_backup_policy_id, run])), disks };
  }, `overview:${page}`);

  const viewerZone = viewerTimeZone();
  return (
    <section>
      <ScreenHeading title="Overview">Overview</ScreenHeading>
      <p class="zones">
        Times are shown in the organization's time zone (<strong>{org.time_zone}</strong>), where schedules are read, and in
        yours (<strong>{viewerZone}</strong>).
      </p>
      {!readsPolicies ? <Notice>This token cannot read disk backup policies (it needs <code>disk_backup_policies:read</code>).</Notice> : null}
      {loaded.error ? <ErrorMessage error={loaded.error} onRetry={loaded.reload} /> : null}
      {loaded.loading && !loaded.data ? <Loading what="the organization" /> : null}
      {loaded.data ? <OverviewTables data={loaded.data} readsDisks={readsDisks} /> : null}
    </section>
  );
}

function OverviewTables({ data, readsDisks }: { data: OverviewData; readsDisks: boolean }) {
  const session = useSession();
  const writes = can(session, 'disk_backup_policies');
  const byTarget = new Map<string, Policy[]>();
  for (const policy of data.policies) {
    const list = byTarget.get(policy.target.value.id) ?? [];
    list.push(policy);
    byTarget.set(policy.target.value.id, list);
  }
  if (!readsDisks || !data.disks) {
    return (
      <>
        <Notice>This token cannot list disks (it needs <code>disks:read</code>): the organization's policies are listed instead.</Notice>
        <PolicyTable policies={data.policies} lastRuns={data.lastRuns} />
      </>
    );
  }
  const { disks, pagination } = data.disks;
  const unprotected = disks.filter((disk) => policiesOf(disk, byTarget).length === 0).length;
  return (
    <>
      <h2>Disks</h2>
      <p class="summary" role="status">
        {count(disks.length, 'disk')} on this page, {count(data.policies.length, 'policy', 'policies')} in the organization.{' '}
        {unprotected > 0 ? (
          <strong class="warn">{unprotected === 1 ? '1 disk on this page has' : `${unprotected} disks on this page have`} no backup policy.</strong>
        ) : (
          'Every disk on this page is protected.'
        )}
      </p>
      <table class="overview">
        <TableHead caption="Disks and the policies that back them up" columns={['Disk', 'Virtual machine', 'Policy', 'Next run', 'Last run', 'Stored']} />
        <tbody>
          {disks.map((disk) => {
            const policies = policiesOf(disk, byTarget);
            const machine = disk.virtual_machine_disk?.virtual_machine ?? null;
            return (
              <tr key={disk.id} class={policies.length === 0 ? 'unprotected' : undefined}>
                <th scope="row">
                  {disk.name}
                  <small>{disk.id}</small>
                </th>
                <td>{machine ? machine.fqdn : <span class="muted">standalone</span>}</td>
                {policies.length === 0 ? (
                  <td colSpan={4}>
                    <span class="badge danger">Unprotected</span>{' '}
                    {writes ? (
                      <a class="button" href={href('/policies/new', { disk: disk.id })} aria-label={`Add a backup policy for ${disk.name}`}>
                        Add a policy
                      </a>
                    ) : null}
                  </td>
                ) : (
                  <PolicyCells policies={policies} lastRuns={data.lastRuns} />
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
      <Pager label="Disks" pagination={pagination} onPage={(next) => go('/', { page: String(next) })} />
      {canRead(session, 'virtual_machines') ? <MachineTable byTarget={byTarget} lastRuns={data.lastRuns} /> : null}
    </>
  );
}

/** The virtual machines, a page at a time, with the policies that back up all their disks at once. */
function MachineTable({ byTarget, lastRuns }: { byTarget: Map<string, Policy[]>; lastRuns: Map<string, RunSummary> }) {
  const session = useSession();
  const writes = can(session, 'disk_backup_policies');
  const [page, setPage] = useState(1);
  const machines = useLoad(
    () =>
      api<{ virtual_machines: VirtualMachine[]; pagination: Pagination }>('GET', `/core/v1/organizations/${session.organization.id}/virtual_machines`, {
        query: { page, per_page: 30 },
      }),
    `machines:${page}`,
  );
  return (
    <>
      <h2>Virtual machines</h2>
      {machines.error ? <ErrorMessage error={machines.error} onRetry={machines.reload} /> : null}
      {machines.loading && !machines.data ? <Loading what="the virtual machines" /> : null}
      {machines.data && machines.data.virtual_machines.length === 0 ? <p class="muted">The organization has no virtual machines.</p> : null}
      {machines.data && machines.data.virtual_machines.length > 0 ? (
        <>
          <table>
            <TableHead caption="Virtual machines and the policies that back up all their disks" columns={['Virtual machine', 'Policy', 'Next run', 'Last run', 'Stored']} />
            <tbody>
              {machines.data.virtual_machines.map((machine) => {
                const policies = byTarget.get(machine.id) ?? [];
                return (
                  <tr key={machine.id}>
                    <th scope="row">
                      {machine.name}
                      <small>{machine.fqdn}</small>
                    </th>
                    {policies.length === 0 ? (
                      <td colSpan={4}>
                        <span class="muted">No policy of its own (its disks may have theirs).</span>{' '}
                        {writes ? (
                          <a class="button" href={href('/policies/new', { virtual_machine: machine.id })} aria-label={`Add a backup policy for every disk of ${machine.name}`}>
                            Add a policy
                          </a>
                        ) : null}
                      </td>
                    ) : (
                      <PolicyCells policies={policies} lastRuns={lastRuns} />
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
          <Pager label="Virtual machines" pagination={machines.data.pagination} onPage={setPage} />
        </>
      ) : null}
    </>
  );
}

function policiesOf(disk: Disk, byTarget: Map<string, Policy[]>): Policy[] {
  const machine = disk.virtual_machine_disk?.virtual_machine.id;
  return [...(byTarget.get(disk.id) ?? []), ...(machine ? (byTarget.get(machine) ?? []) : [])];
}

function PolicyCells({ policies, lastRuns }: { policies: Policy[]; lastRuns: Map<string, RunSummary> }) {
  const org = useSession().organization;
  return (
    <>
      <td>
        {policies.map((policy) => (
          <div key={policy.id}>
            <a href={href(`/policies/${policy.id}`)}>{scheduleText(policy.schedule)}</a>
            <small>
              {policy.id}, keeps {policy.retention}
              {policy.target.type === 'VirtualMachine' ? ', via its virtual machine' : ''}
            </small>
          </div>
        ))}
      </td>
      <td>
        {policies.map((policy) => (
          <div key={policy.id}>{nextRun(policy, org.time_zone)}</div>
        ))}
      </td>
      <td>
        {policies.map((policy) => (
          <div key={policy.id}>
            <LastRun run={lastRuns.get(policy.id)} />
          </div>
        ))}
      </td>
      <td>
        {policies.map((policy) => (
          <div key={policy.id}>{bytes(policy.total_size * 1e9)}</div>
        ))}
      </td>
    </>
  );
}

function nextRun(policy: Policy, zone: string) {
  const at = policy.schedule.next_invocation_at;
  if (at === null) return <span class="muted">none</span>;
  return (
    <>
      {dateTime(at, zone)}
      <small>yours: {dateTime(at)}</small>
    </>
  );
}

export function LastRun({ run }: { run: RunSummary | undefined }) {
  if (!run) return <span class="muted">never run</span>;
  const at = run.finished_at ?? run.started_at ?? run.scheduled_at;
  return (
    <>
      <span class={`badge ${run.status}`}>{run.status}</span> <small>{dateTime(at)}</small>
      {run.error ? <small class="error-text">{run.error}</small> : null}
    </>
  );
}

function PolicyTable({ policies, lastRuns }: { policies: Policy[]; lastRuns: Map<string, RunSummary> }) {
  return (
    <table>
      <TableHead caption="Policies" columns={['Target', 'Policy', 'Next run', 'Last run', 'Stored']} />
      <tbody>
        {policies.map((policy) => (
          <tr key={policy.id}>
            <th scope="row">
              {policy.target.value.name ?? policy.target.value.id}
              <small>{policy.target.type === 'Disk' ? 'disk' : 'virtual machine'}</small>
            </th>
            <PolicyCells policies={[policy]} lastRuns={lastRuns} />
          </tr>
        ))}
      </tbody>
    </table>
  );
}
