/** Who is signed in: the token's scopes decide which controls the screens offer. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { CurrentToken } from './types';

export const SessionContext = createContext<CurrentToken | null>(null);

export function useSession(): CurrentToken {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in console');
  return session;
}

/** True when the token holds `scope` (a write scope such as `disk_backup_policies`, or a `:read` one). */
export function can(session: CurrentToken, scope: string): boolean {
  return session.api_token.scopes.includes(scope);
}

/** Reading needs the scope or its `:read` form. */
export function canRead(session: CurrentToken, scope: string): boolean {
  return can(session, scope) || can(session, `${scope}:read`);
}
