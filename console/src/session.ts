/** The signed-in token: kept in sessionStorage, so it lives as long as the browser tab and no longer. */
const KEY = 'dbp.console.token';

export function storedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
