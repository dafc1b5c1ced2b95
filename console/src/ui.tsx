/** Small pieces every screen uses: loading with errors shown, messages, the pager, links. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, type Pagination } from './api';

export interface Loaded<T> {
  data: T | null;
  error: ApiFailure | null;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `key` changes (and on reload); keeps the last data while reloading. */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiFailure | null; loading: boolean }>({ data: null, error: null, loading: true });
  const [generation, setGeneration] = useState(0);
  const current = useRef(0);
  useEffect(() => {
    const mine = ++current.current;
    setState((previous) => ({ ...previous, loading: true }));
    load().then(
      (data) => mine === current.current && setState({ data, error: null, loading: false }),
      (error: unknown) => mine === current.current && setState((previous) => ({ data: previous.data, error: asFailure(error), loading: false })),
    );
  }, [key, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { ...state, reload };
}

export function asFailure(error: unknown): ApiFailure {
  if (error instanceof ApiFailure) return error;
  return new ApiFailure(0, 'console_error', `Something went wrong in the console: ${String((error as Error)?.message ?? error)}`);
}

/** An API failure as a message, with a retry button when a retry may help. */
export function ErrorMessage({ error, onRetry }: { error: ApiFailure; onRetry?: (() => void) | undefined }) {
  const retryable = error.status === 0 || error.status === 429 || error.status === 503;
  return (
    <div class="message error" role="alert">
      <p>{error.message}</p>
      {retryable && onRetry ? (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

export function Notice({ children }: { children: ComponentChildren }) {
  return (
    <div class="message notice" role="status">
      {children}
    </div>
  );
}

/** Page controls for a list the API pages (`pagination` as it answers it). */
export function Pager({ label, pagination, onPage }: { label: string; pagination: Pagination; onPage: (page: number) => void }) {
  const { current_page: page, total_pages: pages, total } = pagination;
  const last = pages === null ? null : Math.max(pages, 1);
  if (last === 1 && page === 1) return null; // one page: nothing to choose
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous page
      </button>
      <span>
        Page {page}
        {last === null ? ' (more than 1000 in all)' : ` of ${last} (${total} in all)`}
      </span>
      <button type="button" disabled={last !== null && page >= last} onClick={() => onPage(page + 1)}>
        Next page
      </button>
    </nav>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status">
      Loading {what}…
    </p>
  );
}

/** Sets the document's title and moves focus to the screen's heading when the screen changes (for keyboard and screen-reader users). */
export function ScreenHeading({ children, title }: { children: ComponentChildren; title: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Disk backup policies`;
    ref.current?.focus();
  }, [title]);
  return (
    <h1 tabIndex={-1} ref={ref}>
      {children}
    </h1>
  );
}

/** A table's caption and header row (each column's name a column header for screen readers); `false` leaves a column out. */
export function TableHead({ caption, columns }: { caption: string; columns: readonly (string | false)[] }) {
  return (
    <>
      <caption>{caption}</caption>
      <thead>
        <tr>
          {columns.filter((name): name is string => name !== false).map((name) => (
            <th scope="col" key={name}>
              {name}
            </th>
          ))}
        </tr>
      </thead>
    </>
  );
}
