/** The organization's API tokens, and a new one with its scopes, networks and expiry (its secret shown once). */
import { useState } from 'preact/hooks';
import { ALL_SCOPES } from '../../../src/domain/scopes.js';
import { api, ApiFailure, type Pagination } from '../api';
import { dateTime } from '../format';
import { can, canRead, useSession } from '../session-context';
import type { ApiToken } from '../types';
import { asFailure, ErrorMessage, Loading, Notice, Pager, ScreenHeading, TableHead, useLoad } from '../ui';

export function Tokens() {
  const session = useSession();
  const [page, setPage] = useState(1);
  const [created, setCreated] = useState<ApiToken | null>(null);
  const readable = canRead(session, 'api_tokens');
  const writes = can(session, 'api_tokens');
  const list = useLoad(
    () =>
      readable
        ? api<{ api_tokens: ApiToken[]; pagination: Pagination }>('GET', `/core/v1/organizations/${session.organization.id}/api_tokens`, { query: { page, per_page: 30 } })
        : Promise.resolve(null),
    `tokens:${page}`,
  );
  return (
    <section>
      <ScreenHeading title="API tokens">API tokens</ScreenHeading>
      {!readable ? <Notice>This token cannot list API tokens (it needs <code>api_tokens:read</code>).</Notice> : null}
      {created ? <NewSecret token={created} onDone={() => setCreated(null)} /> : null}
      {list.error ? <ErrorMessage error={list.error} onRetry={list.reload} /> : null}
      {list.loading && !list.data ? <Loading what="the tokens" /> : null}
      {list.data ? (
        <>
          <table>
            <TableHead caption="The organization's API tokens" columns={['Name', 'Scopes', 'Networks', 'Expires']} />
            <tbody>
              {list.data.api_tokens.map((token) => (
                <tr key={token.id}>
                  <th scope="row">
                    {token.name}
                    <small>{token.id}</small>
                  </th>
                  <td>{token.scopes.join(', ')}</td>
                  <td>{token.authorized_ip_addresses.length ? token.authorized_ip_addresses.join(', ') : 'any'}</td>
                  <td>{token.expires_at ? dateTime(token.expires_at) : 'never'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager label="Tokens" pagination={list.data.pagination} onPage={setPage} />
        </>
      ) : null}
      {writes ? (
        <NewToken
          onCreated={(token) => {
            setCreated(token);
            list.reload();
          }}
        />
      ) : null}
    </section>
  );
}

function NewSecret({ token, onDone }: { token: ApiToken; onDone: () => void }) {
  return (
    <div class="message success" role="alert">
      <p>
        The token <strong>{token.name}</strong> is made. Copy its secret now: it is shown this once only.
      </p>
      <label for="new-secret">Secret of {token.name}</label>
      <input id="new-secret" readOnly value={token.secret ?? ''} onFocus={(event) => event.currentTarget.select()} />
      <button type="button" onClick={onDone}>
        I have copied it
      </button>
    </div>
  );
}

function NewToken({ onCreated }: { onCreated: (token: ApiToken) => void }) {
  const { organization, api_token: own } = useSession();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>([]);
  const [networks, setNetworks] = useState('');
  const [expires, setExpires] = useState('');
  const [failure, setFailure] = useState<ApiFailure | null>(null);
  const grantable = ALL_SCOPES.filter((scope) => own.scopes.includes(scope));
  const submit = async (event: Event) => {
    event.preventDefault();
    setFailure(null);
    const properties: Record<string, unknown> = {
      name,
      ...(scopes.length ? { scopes } : {}),
      authorized_ip_addresses: networks.split(/[\s,]+/).filter(Boolean),
    };
    if (expires) properties.expires_at = Math.floor(new Date(expires).getTime() / 1000);
    try {
      const { api_token } = await api<{ api_token: ApiToken }>('POST', `/core/v1/organizations/${organization.id}/api_tokens`, { body: { properties } });
      setName('');
      setScopes([]);
      setNetworks('');
      setExpires('');
      onCreated(api_token);
    } catch (error) {
      setFailure(asFailure(error));
    }
  };
  return (
    <form onSubmit={submit} noValidate class="token-form" aria-labelledby="new-token-heading">
      <h2 id="new-token-heading">New API token</h2>
      {failure ? <ErrorMessage error={failure} /> : null}
      <div class="field">
        <label for="token-name">Name</label>
        <input id="token-name" value={name} onInput={(event) => setName(event.currentTarget.value)} required />
      </div>
      <fieldset>
        <legend>Scopes (only those this token holds can be granted; none ticked: all of them)</legend>
        {grantable.map((scope) => (
          <label key={scope} class="check">
            <input
              type="checkbox"
              checked={scopes.includes(scope)}
              onChange={(event) => setScopes(event.currentTarget.checked ? [...scopes, scope] : scopes.filter((s) => s !== scope))}
            />{' '}
            {scope}
          </label>
        ))}
      </fieldset>
      <div class="field">
        <label for="token-networks">Allowed networks (addresses or CIDR ranges, comma separated; empty: any)</label>
        <input id="token-networks" value={networks} onInput={(event) => setNetworks(event.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="token-expires">Expires (your time; empty: never, or this token's own expiry)</label>
        <input id="token-expires" type="datetime-local" value={expires} onInput={(event) => setExpires(event.currentTarget.value)} />
      </div>
      <button type="submit">Create token</button>
    </form>
  );
}
