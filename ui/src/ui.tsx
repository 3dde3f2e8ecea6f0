import { createContext, h, type ComponentChildren } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import type { paths } from './api/client';

export type UiSession = paths['/ui/session']['get']['responses'][200]['content']['application/json'];

/** Who is signed in, and which key an admin is looking at (undefined: every key). */
export interface Scope {
  session: UiSession;
  keyId: string | undefined;
}
export const ScopeContext = createContext<Scope | null>(null);
export function useScope(): Scope {
  const scope = useContext(ScopeContext);
  if (!scope) throw new Error('useScope outside the signed-in app');
  return scope;
}
/** The `key_id` filter of list reads: only an admin sends one. */
export const scoped = (scope: Scope): { key_id?: string } => (scope.session.admin && scope.keyId ? { key_id: scope.keyId } : {});

export function navigate(path: string): void {
  history.pushState(null, '', path);
  dispatchEvent(new PopStateEvent('popstate'));
}

export function Link(props: { href: string; children: ComponentChildren; class?: string; current?: boolean }) {
  return (
    <a
      href={props.href}
      class={props.class}
      aria-current={props.current ? 'page' : undefined}
      onClick={(event) => {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}

export interface AsyncState<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload(): void;
}

/** Runs `load` when `deps` change (and on reload); a late answer of an older run is dropped. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const run = useRef(0);
  useEffect(() => {
    const mine = ++run.current;
    setState((previous) => ({ ...previous, loading: true }));
    load().then(
      (data) => mine === run.current && setState({ data, loading: false }),
      (error: Error) => mine === run.current && setState({ error, loading: false }),
    );
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** Polls `reload` every `ms` while `active`. */
export function usePolling(reload: () => void, ms: number, active: boolean): void {
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(reload, ms);
    return () => clearInterval(timer);
  }, [reload, ms, active]);
}

export function Loading() {
  return (
    <p class="muted" role="status">
      Loading…
    </p>
  );
}

export function ErrorNote(props: { error: Error | string }) {
  return (
    <p class="error" role="alert">
      {typeof props.error === 'string' ? props.error : props.error.message}
    </p>
  );
}

export function Empty(props: { children: ComponentChildren }) {
  return <div class="empty">{props.children}</div>;
}

/** Loading, error, or the content (kept visible while it reloads). */
export function Async<T>(props: { state: AsyncState<T>; children: (data: T) => ComponentChildren }) {
  const { data, error, loading } = props.state;
  if (error && data === undefined) return <ErrorNote error={error} />;
  if (data === undefined) return loading ? <Loading /> : null;
  return (
    <>
      {error ? <ErrorNote error={error} /> : null}
      {props.children(data)}
    </>
  );
}

export interface Column<T> {
  title: string;
  cell: (row: T) => ComponentChildren;
}

export function Table<T>(props: { columns: Column<T>[]; rows: T[]; empty: ComponentChildren; caption?: string; rowKey: (row: T) => string | number }) {
  if (props.rows.length === 0) return <Empty>{props.empty}</Empty>;
  return (
    <div class="table-wrap">
      <table>
        {props.caption ? <caption>{props.caption}</caption> : null}
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col" key={c.title}>
                {c.title}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row) => (
            <tr key={props.rowKey(row)}>
              {props.columns.map((c) => (
                <td key={c.title} data-label={c.title}>
                  {c.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export const PAGE_SIZE = 50;

/** Server-side pages: the API's limit/offset and total. */
export function Pager(props: { total: number; offset: number; limit?: number; onOffset: (offset: number) => void }) {
  const limit = props.limit ?? PAGE_SIZE;
  if (props.total <= limit && props.offset === 0) return null;
  const last = Math.min(props.offset + limit, props.total);
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={props.offset === 0} onClick={() => props.onOffset(Math.max(0, props.offset - limit))}>
        Previous
      </button>
      <span>
        {props.total === 0 ? 0 : props.offset + 1}–{last} of {props.total}
      </span>
      <button type="button" disabled={last >= props.total} onClick={() => props.onOffset(props.offset + limit)}>
        Next
      </button>
    </nav>
  );
}

/** A button that runs an action, shows it running and its error; `confirm` asks first (destructive actions). */
export function Action(props: { label: string; run: () => Promise<unknown>; confirm?: string; danger?: boolean; onDone?: () => void; disabled?: boolean }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <span class="action">
      <button
        type="button"
        class={props.danger ? 'danger' : undefined}
        disabled={busy || props.disabled}
        aria-busy={busy}
        onClick={async () => {
          if (props.confirm && !window.confirm(props.confirm)) return;
          setBusy(true);
          setError(null);
          try {
            await props.run();
            props.onDone?.();
          } catch (e) {
            setError((e as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        {props.label}
      </button>
      {error ? (
        <span class="error" role="alert">
          {error}
        </span>
      ) : null}
    </span>
  );
}

/** A form whose submit runs `onSubmit` with its fields; errors are shown under it. */
export function Form(props: { onSubmit: (fields: FormData) => Promise<unknown>; submit: string; children: ComponentChildren; class?: string; label?: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      class={props.class ?? 'form'}
      aria-label={props.label}
      onSubmit={async (event) => {
        event.preventDefault();
        const form = event.currentTarget;
        setBusy(true);
        setError(null);
        try {
          await props.onSubmit(new FormData(form));
          form.reset();
        } catch (e) {
          setError((e as Error).message);
        } finally {
          setBusy(false);
        }
      }}
    >
      {props.children}
      <button type="submit" disabled={busy} aria-busy={busy}>
        {props.submit}
      </button>
      {error ? <ErrorNote error={error} /> : null}
    </form>
  );
}

export function Field(props: { label: string; name: string; type?: 'text' | 'email' | 'search' | 'url'; required?: boolean; value?: string; placeholder?: string; children?: ComponentChildren }) {
  return (
    <label class="field">
      <span>{props.label}</span>
      {props.children ?? h('input', { name: props.name, type: props.type ?? 'text', required: props.required, value: props.value, placeholder: props.placeholder })}
    </label>
  );
}

export const text = (fields: FormData, name: string): string => String(fields.get(name) ?? '').trim();
export const orNull = (value: string): string | null => (value === '' ? null : value);
export const when = (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString() : '—');

export function Badge(props: { value: string }) {
  return <span class={`badge badge-${props.value}`}>{props.value}</span>;
}

export function Page(props: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  useEffect(() => {
    document.title = `${props.title} · MailerDash`;
  }, [props.title]);
  return (
    <section class="page" aria-labelledby="page-title">
      <header class="page-head">
        <h1 id="page-title">{props.title}</h1>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}
