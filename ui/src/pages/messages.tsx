import { useState } from 'preact/hooks';
import { api, must, type paths } from '../api/client';
import { Async, Badge, Link, Page, Pager, PAGE_SIZE, Table, scoped, useAsync, useScope, when } from '../ui';

type Query = NonNullable<paths['/v1/messages']['get']['parameters']['query']>;
const STATUSES = ['queued', 'sending', 'sent', 'deferred', 'bounced', 'failed', 'dropped'] as const;

export function MessagesPage(props: { path: string }) {
  const id = props.path.split('/')[3];
  return id ? <MessageDetail id={decodeURIComponent(id)} /> : <MessageLog />;
}

function MessageLog() {
  const scope = useScope();
  const [filter, setFilter] = useState<{ to?: string; status?: Query['status']; channel?: Query['channel']; since?: string }>({});
  const [offset, setOffset] = useState(0);
  const page = useAsync(() => must(api.GET('/v1/messages', { params: { query: { ...filter, limit: PAGE_SIZE, offset, ...scoped(scope) } } })), [filter, offset]);
  return (
    <Page title="Messages">
      <form
        class="toolbar"
        role="search"
        aria-label="Search messages"
        onSubmit={(event) => {
          event.preventDefault();
          const f = new FormData(event.currentTarget);
          const get = (name: string) => String(f.get(name) ?? '').trim() || undefined;
          const since = get('since');
          setOffset(0);
          setFilter({ to: get('to'), status: get('status') as Query['status'], channel: get('channel') as Query['channel'], since: since ? new Date(since).toISOString() : undefined });
        }}
      >
        <label class="field inline">
          <span>Recipient</span>
          <input name="to" type="search" placeholder="someone@example.com" />
        </label>
        <label class="field inline">
          <span>Status</span>
          <select name="status">
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label class="field inline">
          <span>Channel</span>
          <select name="channel">
            <option value="">any</option>
            <option value="trans">trans</option>
            <option value="bulk">bulk</option>
          </select>
        </label>
        <label class="field inline">
          <span>Since</span>
          <input name="since" type="date" />
        </label>
        <button type="submit">Search</button>
      </form>
      <Async state={page}>
        {(p) => (
          <>
            <Table
              rowKey={(m) => m.id}
              rows={p.data}
              empty="No messages match."
              columns={[
                { title: 'To', cell: (m) => <Link href={`/ui/messages/${m.id}`}>{m.to}</Link> },
                { title: 'Subject', cell: (m) => m.subject },
                { title: 'Status', cell: (m) => <Badge value={m.status} /> },
                { title: 'Channel', cell: (m) => m.channel },
                { title: 'Last SMTP reply', cell: (m) => <code>{m.last_response ?? '—'}</code> },
                { title: 'Created', cell: (m) => when(m.created_at) },
              ]}
            />
            <Pager total={p.total} offset={offset} onOffset={setOffset} />
          </>
        )}
      </Async>
    </Page>
  );
}

function MessageDetail(props: { id: string }) {
  const message = useAsync(() => must(api.GET('/v1/messages/{id}', { params: { path: { id: props.id } } })), [props.id]);
  return (
    <Page title="Message" actions={<Link href="/ui/messages">All messages</Link>}>
      <Async state={message}>
        {(m) => (
          <>
            <dl class="facts">
              <dt>ID</dt>
              <dd>
                <code>{m.id}</code>
              </dd>
              <dt>To</dt>
              <dd>{m.to_name ? `${m.to_name} <${m.to}>` : m.to}</dd>
              <dt>From</dt>
              <dd>{m.from}</dd>
              <dt>Subject</dt>
              <dd>{m.subject}</dd>
              <dt>Status</dt>
              <dd>
                <Badge value={m.status} /> after {m.attempts} attempt(s)
              </dd>
              <dt>Last SMTP reply</dt>
              <dd>
                <code class="reply">{m.last_response ?? '—'}</code>
              </dd>
            </dl>
            <h2>Timeline</h2>
            <ol class="timeline">
              {m.events.map((e, i) => (
                <li key={i}>
                  <Badge value={e.type} /> <time dateTime={e.at}>{when(e.at)}</time>
                  {Object.keys(e.data).length ? <pre>{JSON.stringify(e.data, null, 2)}</pre> : null}
                </li>
              ))}
            </ol>
          </>
        )}
      </Async>
    </Page>
  );
}
