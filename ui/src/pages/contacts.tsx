import { useState } from 'preact/hooks';
import { api, csrfHeaders, must, type paths } from '../api/client';
import { Action, Async, Badge, ErrorNote, Field, Form, Link, Page, Pager, PAGE_SIZE, Table, scoped, text, useAsync, useScope, when } from '../ui';

type Status = NonNullable<NonNullable<paths['/v1/bulk/contacts']['get']['parameters']['query']>['status']>;
type ImportResult = paths['/v1/bulk/contacts/import']['post']['responses'][207]['content']['application/json'];
const STATUSES: Status[] = ['active', 'unsubscribed', 'bounced', 'complained'];

export function ContactsPage(props: { path: string }) {
  const email = props.path.split('/')[3];
  return email ? <ContactDetail email={decodeURIComponent(email)} /> : <ContactList />;
}

function ContactList() {
  const scope = useScope();
  const [q, setQ] = useState('');
  const [status, setStatus] = useState<Status | ''>('');
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const filter: Record<string, string> = { ...(q ? { q } : {}), ...(status ? { status } : {}), ...scoped(scope) };
  const page = useAsync(() => must(api.GET('/v1/bulk/contacts', { params: { query: { ...(q ? { q } : {}), ...(status ? { status } : {}), ...scoped(scope), limit: PAGE_SIZE, offset } } })), [q, status, offset]);
  const toggle = (email: string) =>
    setSelected((previous) => {
      const next = new Set(previous);
      if (!next.delete(email)) next.add(email);
      return next;
    });
  const exportUrl = `/v1/bulk/contacts?${new URLSearchParams({ ...filter, format: 'csv' })}`;
  return (
    <Page title="Contacts" actions={<a href={exportUrl} download="contacts.csv">Export CSV</a>}>
      <Import onDone={page.reload} />
      <form
        class="toolbar"
        role="search"
        aria-label="Search contacts"
        onSubmit={(event) => {
          event.preventDefault();
          const f = new FormData(event.currentTarget);
          setOffset(0);
          setQ(text(f, 'q'));
          setStatus(text(f, 'status') as Status | '');
        }}
      >
        <Field label="Email or name" name="q" type="search" />
        <label class="field inline">
          <span>Status</span>
          <select name="status">
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <button type="submit">Search</button>
      </form>
      {selected.size > 0 ? (
        <div class="toolbar">
          <span>{selected.size} selected</span>
          <Action
            label="Delete selected"
            danger
            confirm={`Delete ${selected.size} contact(s) and their list memberships?`}
            run={() => must(api.POST('/v1/bulk/contacts/delete', { body: { emails: [...selected] } }))}
            onDone={() => {
              setSelected(new Set());
              page.reload();
            }}
          />
        </div>
      ) : null}
      <Async state={page}>
        {(p) => (
          <>
            <Table
              rowKey={(c) => c.email}
              rows={p.data}
              empty="No contacts match. Import a CSV to start."
              columns={[
                { title: 'Select', cell: (c) => <input type="checkbox" aria-label={`Select ${c.email}`} checked={selected.has(c.email)} onChange={() => toggle(c.email)} /> },
                { title: 'Email', cell: (c) => <Link href={`/ui/contacts/${encodeURIComponent(c.email)}`}>{c.email}</Link> },
                { title: 'Name', cell: (c) => c.name ?? '—' },
                { title: 'Status', cell: (c) => <Badge value={c.status} /> },
                { title: 'Created', cell: (c) => when(c.created_at) },
              ]}
            />
            <Pager total={p.total} offset={offset} onOffset={setOffset} />
          </>
        )}
      </Async>
    </Page>
  );
}

/** CSV upload through XMLHttpRequest, whose upload progress fetch does not report. */
function Import(props: { onDone: () => void }) {
  const [progress, setProgress] = useState<number | null>(null);
  const [result, setResult] = useState<ImportResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const upload = (file: File) => {
    setResult(null);
    setError(null);
    setProgress(0);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/bulk/contacts/import');
    xhr.setRequestHeader('content-type', 'text/csv');
    for (const [name, value] of Object.entries(csrfHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => event.lengthComputable && setProgress(event.loaded / event.total);
    xhr.onload = () => {
      setProgress(null);
      try {
        const body = JSON.parse(xhr.responseText) as ImportResult & { errors?: { message: string }[] };
        if (xhr.status === 207) {
          setResult(body);
          props.onDone();
        } else setError(body.errors?.[0]?.message ?? `HTTP ${xhr.status}`);
      } catch {
        setError(`HTTP ${xhr.status}`);
      }
    };
    xhr.onerror = () => {
      setProgress(null);
      setError('the upload failed');
    };
    xhr.send(file);
  };
  return (
    <details class="panel">
      <summary>Import CSV</summary>
      <p class="muted">A header row: email, name; other columns become metadata. Existing contacts keep their status.</p>
      <label class="field">
        <span>CSV file</span>
        <input type="file" accept=".csv,text/csv" onChange={(event) => event.currentTarget.files?.[0] && upload(event.currentTarget.files[0])} />
      </label>
      {progress !== null ? <progress max={1} value={progress} aria-label="Upload progress" /> : null}
      {result ? (
        <p role="status" data-import-result>
          {result.created} created, {result.updated} updated, {result.failed} failed.
        </p>
      ) : null}
      {error ? <ErrorNote error={error} /> : null}
    </details>
  );
}

function ContactDetail(props: { email: string }) {
  const path = { params: { path: { email: props.email } } };
  const contact = useAsync(() => must(api.GET('/v1/bulk/contacts/{email}', path)), [props.email]);
  const engagement = useAsync(() => must(api.GET('/v1/bulk/contacts/{email}/engagement', path)), [props.email]);
  return (
    <Page title={props.email} actions={<Link href="/ui/contacts">All contacts</Link>}>
      <Async state={contact}>
        {(c) => (
          <>
            <dl class="facts">
              <dt>Name</dt>
              <dd>{c.name ?? '—'}</dd>
              <dt>Status</dt>
              <dd>
                <Badge value={c.status} />
              </dd>
              <dt>Metadata</dt>
              <dd>
                <pre>{JSON.stringify(c.metadata, null, 2)}</pre>
              </dd>
            </dl>
            <Form
              label="Change status"
              submit="Save status"
              onSubmit={async (f) => {
                await must(api.PATCH('/v1/bulk/contacts/{email}', { ...path, body: { status: text(f, 'status') as Status } }));
                contact.reload();
              }}
            >
              <label class="field">
                <span>Status</span>
                <select name="status" value={c.status}>
                  {STATUSES.map((s) => (
                    <option key={s}>{s}</option>
                  ))}
                </select>
              </label>
            </Form>
          </>
        )}
      </Async>
      <h2>Engagement</h2>
      <Async state={engagement}>{(e) => <pre class="json">{JSON.stringify(e, null, 2)}</pre>}</Async>
    </Page>
  );
}
