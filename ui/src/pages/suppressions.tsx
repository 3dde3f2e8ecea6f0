import { useState } from 'preact/hooks';
import { api, must, type paths } from '../api/client';
import { Action, Async, Badge, Field, Form, Page, Pager, PAGE_SIZE, Table, scoped, text, useAsync, useScope, when } from '../ui';

type Reason = NonNullable<NonNullable<paths['/v1/suppressions']['get']['parameters']['query']>['reason']>;
const REASONS: Reason[] = ['bounce', 'complaint', 'unsubscribe', 'manual'];

export function SuppressionsPage() {
  const scope = useScope();
  const [q, setQ] = useState('');
  const [reason, setReason] = useState<Reason | ''>('');
  const [offset, setOffset] = useState(0);
  const page = useAsync(
    () => must(api.GET('/v1/suppressions', { params: { query: { ...(q ? { q } : {}), ...(reason ? { reason } : {}), limit: PAGE_SIZE, offset, ...scoped(scope) } } })),
    [q, reason, offset],
  );
  return (
    <Page title="Suppressions">
      <Form
        class="toolbar"
        label="Suppress addresses"
        submit="Suppress"
        onSubmit={async (f) => {
          const emails = text(f, 'emails').split(/[\s,;]+/).filter(Boolean);
          await must(api.POST('/v1/suppressions', { body: { emails } }));
          page.reload();
        }}
      >
        <Field label="Addresses to suppress" name="emails" required />
      </Form>
      <form
        class="toolbar"
        role="search"
        aria-label="Search suppressions"
        onSubmit={(event) => {
          event.preventDefault();
          const f = new FormData(event.currentTarget);
          setOffset(0);
          setQ(text(f, 'q'));
          setReason(text(f, 'reason') as Reason | '');
        }}
      >
        <Field label="Address" name="q" type="search" />
        <label class="field inline">
          <span>Reason</span>
          <select name="reason">
            <option value="">any</option>
            {REASONS.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <button type="submit">Search</button>
      </form>
      <Async state={page}>
        {(p) => (
          <>
            <Table
              rowKey={(s) => `${s.key_id}|${s.email}`}
              rows={p.data}
              empty="No suppressed addresses."
              columns={[
                { title: 'Email', cell: (s) => s.email },
                { title: 'Reason', cell: (s) => <Badge value={s.reason} /> },
                { title: 'Source', cell: (s) => `${s.source_type}${s.source_id ? ` ${s.source_id}` : ''}` },
                { title: 'Detail', cell: (s) => s.detail ?? '—' },
                { title: 'Since', cell: (s) => when(s.created_at) },
                {
                  title: 'Remove',
                  cell: (s) => (
                    <Action label="Remove" danger confirm={`Allow mail to ${s.email} again?`} run={() => must(api.DELETE('/v1/suppressions/{email}', { params: { path: { email: s.email } } }))} onDone={page.reload} />
                  ),
                },
              ]}
            />
            <Pager total={p.total} offset={offset} onOffset={setOffset} />
          </>
        )}
      </Async>
    </Page>
  );
}
