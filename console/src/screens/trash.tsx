/** Deleted policies, restorable for two days: restore or purge (purging a policy deletes its backups). */
import { useState } from 'preact/hooks';
import { api, ApiFailure, type Pagination } from '../api';
import { dateTime } from '../format';
import { can, canRead, useSession } from '../session-context';
import type { TrashObject } from '../types';
import { asFailure, ErrorMessage, Loading, Notice, Pager, ScreenHeading, TableHead, useLoad } from '../ui';

export function Trash() {
  const session = useSession();
  const [page, setPage] = useState(1);
  const [failure, setFailure] = useState<ApiFailure | null>(null);
  const [outcome, setOutcome] = useState<string | null>(null);
  const readable = canRead(session, 'trash_objects');
  const restores = can(session, 'trash_objects:restore');
  const purges = can(session, 'trash_objects:purge');
  const list = useLoad(
    () =>
      readable
        ? api<{ trash_objects: TrashObject[]; pagination: Pagination }>('GET', `/core/v1/organizations/${session.organization.id}/trash_objects`, { query: { page, per_page: 30 } })
        : Promise.resolve(null),
    `trash:${page}`,
  );
  const act = async (what: string, method: string, path: string) => {
    setFailure(null);
    setOutcome(null);
    try {
      await api(method, path);
      setOutcome(what);
    } catch (error) {
      setFailure(asFailure(error));
    }
    list.reload();
  };
  return (
    <section>
      <ScreenHeading title="Trash">Trash</ScreenHeading>
      <p>A deleted policy stays here for two days. Restoring puts it back as it was; purging deletes it and its backups for good.</p>
      {!readable ? <Notice>This token cannot read the trash (it needs <code>trash_objects:read</code>).</Notice> : null}
      {failure ? <ErrorMessage error={failure} onRetry={list.reload} /> : null}
      {outcome ? (
        <p class="message success" role="status">
          {outcome}
        </p>
      ) : null}
      {list.error ? <ErrorMessage error={list.error} onRetry={list.reload} /> : null}
      {list.loading && !list.data ? <Loading what="the trash" /> : null}
      {list.data && list.data.trash_objects.length === 0 ? <p class="muted">The trash is empty.</p> : null}
      {list.data && list.data.trash_objects.length > 0 ? (
        <>
          <table>
            <TableHead caption="Objects in the trash" columns={['Object', 'Kept until', (restores || purges) && 'Actions']} />
            <tbody>
              {list.data.trash_objects.map((item) => (
                <tr key={item.id}>
                  <th scope="row">
                    {item.object_id}
                    <small>{item.object_type}</small>
                  </th>
                  <td>{dateTime(item.keep_until)}</td>
                  {restores || purges ? (
                    <td>
                      {restores ? (
                        <button type="button" aria-label={`Restore ${item.object_id}`} onClick={() => act(`${item.object_id} is restored.`, 'POST', `/core/v1/trash_objects/${item.id}/restore`)}>
                          Restore
                        </button>
                      ) : null}{' '}
                      {purges ? (
                        <button
                          type="button"
                          class="danger"
                          aria-label={`Purge ${item.object_id}`}
                          onClick={() => {
                            if (confirm(`Purge ${item.object_id} and its backups for good?`)) void act(`${item.object_id} is purged.`, 'DELETE', `/core/v1/trash_objects/${item.id}`);
                          }}
                        >
                          Purge
                        </button>
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
          <Pager label="Trash" pagination={list.data.pagination} onPage={setPage} />
        </>
      ) : null}
    </section>
  );
}
