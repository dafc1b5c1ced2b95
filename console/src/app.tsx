/** The console's frame: sign-in, the header with its navigation, and the screen the URL names. */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiFailure } from './api';
import { useRoute, type Route } from './route';
import { forgetToken, storedToken, storeToken } from './session';
import { SessionContext } from './session-context';
import type { CurrentToken } from './types';
import { asFailure, ErrorMessage, Loading } from './ui';
import { SignIn } from './screens/sign-in';
import { Overview } from './screens/overview';
import { PolicyEditor } from './screens/policy-editor';
import { PolicyHistory } from './screens/policy-history';
import { Trash } from './screens/trash';
import { Tokens } from './screens/tokens';

export function App() {
  const [session, setSession] = useState<CurrentToken | null>(null);
  const [checking, setChecking] = useState(storedToken() !== null);
  const [error, setError] = useState<ApiFailure | null>(null);
  const route = useRoute();

  const check = () => {
    setChecking(true);
    setError(null);
    api<CurrentToken>('GET', '/ext/v1/api_token').then(
      (answer) => {
        setSession(answer);
        setChecking(false);
      },
      (failure: unknown) => {
        const known = asFailure(failure);
        // A token the service refuses is forgotten; an outage keeps it, to try again.
        if (known.status === 400 || known.status === 403) forgetToken();
        setError(known);
        setChecking(false);
      },
    );
  };
  useEffect(() => {
    if (storedToken() !== null) check();
  }, []);

  const signOut = () => {
    forgetToken();
    setSession(null);
    setError(null);
  };

  if (!session) {
    return (
      <main id="main">
        {checking ? <Loading what="your session" /> : null}
        {error && storedToken() !== null ? (
          <>
            <ErrorMessage error={error} onRetry={check} />
            <button type="button" onClick={signOut}>
              Sign in with another token
            </button>
          </>
        ) : null}
        {!checking && storedToken() === null ? (
          <SignIn
            error={error}
            onToken={(token) => {
              storeToken(token);
              check();
            }}
          />
        ) : null}
      </main>
    );
  }

  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main" onClick={(event) => { event.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to the content
      </a>
      <header>
        <p class="brand">
          Disk backup policies · <span>{session.organization.name}</span>
        </p>
        <nav aria-label="Screens">
          <a href="#/" aria-current={route.parts.length === 0 ? 'page' : undefined}>Overview</a>
          <a href="#/trash" aria-current={route.parts[0] === 'trash' ? 'page' : undefined}>Trash</a>
          <a href="#/tokens" aria-current={route.parts[0] === 'tokens' ? 'page' : undefined}>API tokens</a>
        </nav>
        <p class="who">
          Token <strong>{session.api_token.name}</strong>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </p>
      </header>
      <main id="main" tabIndex={-1}>
        <Screen route={route} />
      </main>
    </SessionContext.Provider>
  );
}

function Screen({ route }: { route: Route }) {
  const [first, second, third] = route.parts;
  if (first === undefined) return <Overview page={Number(route.query.get('page') ?? 1) || 1} />;
  if (first === 'trash') return <Trash />;
  if (first === 'tokens') return <Tokens />;
  if (first === 'policies' && second === 'new') {
    const disk = route.query.get('disk');
    const machine = route.query.get('virtual_machine');
    const target = disk ? { type: 'Disk' as const, id: disk } : machine ? { type: 'VirtualMachine' as const, id: machine } : null;
    return <PolicyEditor key={`new:${disk}:${machine}`} target={target} policyId={null} />;
  }
  if (first === 'policies' && second && third === 'edit') return <PolicyEditor key={second} target={null} policyId={second} />;
  if (first === 'policies' && second) return <PolicyHistory key={second} policyId={second} />;
  return (
    <div class="message notice" role="status">
      <p>
        There is no screen at this address. <a href="#/">Go to the overview</a>.
      </p>
    </div>
  );
}
