/** Screens are addressed by the URL's hash (`#/policies/dbp_…`), so the server serves one page. */
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  readonly parts: string[];
  readonly query: URLSearchParams;
}

function current(): Route {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path = '/', search = ''] = hash.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const changed = () => setRoute(current());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

export function href(path: string, query: Record<string, string> = {}): string {
  const search = new URLSearchParams(query).toString();
  return `#${path}${search ? `?${search}` : ''}`;
}

export function go(path: string, query: Record<string, string> = {}): void {
  location.hash = href(path, query);
}
