import { useState } from 'preact/hooks';
import type { ApiFailure } from '../api';
import { ErrorMessage, ScreenHeading } from '../ui';

/** Takes an API token; the console keeps it in this tab only (sessionStorage). */
export function SignIn({ error, onToken }: { error: ApiFailure | null; onToken: (token: string) => void }) {
  const [token, setToken] = useState('');
  return (
    <section class="sign-in">
      <ScreenHeading title="Sign in">Sign in with an API token</ScreenHeading>
      <p>
        The console uses the service's API with your token. It keeps the token in this browser tab only: closing the
        tab signs you out. Make a token with <code>dbp token create</code> or on the API tokens screen.
      </p>
      {error ? <ErrorMessage error={error} /> : null}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (token.trim()) onToken(token.trim());
        }}
      >
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autoComplete="off" required value={token} onInput={(event) => setToken(event.currentTarget.value)} />
        <button type="submit">Sign in</button>
      </form>
    </section>
  );
}
