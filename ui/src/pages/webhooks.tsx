import { useState } from 'preact/hooks';
import { api, must } from '../api/client';
import { Action, Async, Badge, Field, Form, Link, Page, Pager, PAGE_SIZE, Table, navigate, scoped, text, useAsync, useScope, when } from '../ui';

export function WebhooksPage(props: { path: string }) {
  const id = props.path.split('/')[3];
  return id ? <WebhookDetail id={decodeURIComponent(id)} /> : <WebhookList />;
}

function WebhookList() {
  const scope = useScope();
  const [offset, setOffset] = useState(0);
  const [secret, setSecret] = useState<string | null>(null);
  const page = useAsync(() => must(api.GET('/v1/webhooks', { params: { query: { limit: PAGE_SIZE, offset, ...scoped(scope) } } })), [offset]);
  return (
    <Page title="Webhooks">
      <details class="panel">
        <summary>New endpoint</summary>
        <Form
          label="New webhook endpoint"
          submit="Add endpoint"
          onSubmit={async (f) => {
            const events = text(f, 'events').split(/[\s,]+/).filter(Boolean);
            const created = await must(api.POST('/v1/webhooks', { body: { url: text(f, 'url'), ...(events.length ? { events } : {}) } }));
            setSecret(created.secret ?? null);
            page.reload();
          }}
        >
          <Field label="URL" name="url" type="url" required placeholder="https://example.com/hooks/mailerdash" />
          <Field label="Events (blank: all)" name="events" placeholder="message.* campaign.sent" />
        </Form>
        {secret ? (
          <p role="status">
            Signing secret (shown once): <code>{secret}</code>
          </p>
        ) : null}
      </details>
      <Async state={page}>
        {(p) => (
          <>
            <Table
              rowKey={(w) => w.id}
              rows={p.data}
              empty="No webhook endpoints."
              columns={[
                { title: 'URL', cell: (w) => <Link href={`/ui/webhooks/${w.id}`}>{w.url}</Link> },
                { title: 'Events', cell: (w) => w.events.join(', ') },
                { title: 'State', cell: (w) => <Badge value={w.enabled ? 'enabled' : 'disabled'} /> },
                { title: 'Failing since', cell: (w) => when(w.failing_since) },
              ]}
            />
            <Pager total={p.total} offset={offset} onOffset={setOffset} />
          </>
        )}
      </Async>
    </Page>
  );
}

function WebhookDetail(props: { id: string }) {
  const path = { params: { path: { id: props.id } } };
  const [offset, setOffset] = useState(0);
  const webhook = useAsync(() => must(api.GET('/v1/webhooks/{id}', path)), [props.id]);
  const deliveries = useAsync(() => must(api.GET('/v1/webhooks/{id}/deliveries', { params: { path: { id: props.id }, query: { limit: PAGE_SIZE, offset } } })), [props.id, offset]);
  return (
    <Page title="Webhook endpoint" actions={<Link href="/ui/webhooks">All endpoints</Link>}>
      <Async state={webhook}>
        {(w) => (
          <>
            <dl class="facts">
              <dt>URL</dt>
              <dd>{w.url}</dd>
              <dt>State</dt>
              <dd>
                <Badge value={w.enabled ? 'enabled' : 'disabled'} /> {w.disabled_reason ?? ''}
              </dd>
            </dl>
            <div class="toolbar">
              <Action label="Send a test event" run={() => must(api.POST('/v1/webhooks/{id}/test', path))} onDone={deliveries.reload} />
              <Action label={w.enabled ? 'Disable' : 'Enable'} run={() => must(api.PATCH('/v1/webhooks/{id}', { ...path, body: { enabled: !w.enabled } }))} onDone={webhook.reload} />
              <Action label="Delete endpoint" danger confirm="Delete this endpoint and its delivery log?" run={() => must(api.DELETE('/v1/webhooks/{id}', path))} onDone={() => navigate('/ui/webhooks')} />
            </div>
          </>
        )}
      </Async>
      <h2>Deliveries</h2>
      <Async state={deliveries}>
        {(p) => (
          <>
            <Table
              rowKey={(d) => d.id}
              rows={p.data}
              empty="No deliveries yet."
              columns={[
                { title: 'Event', cell: (d) => d.event_type },
                { title: 'Status', cell: (d) => <Badge value={d.status} /> },
                { title: 'Attempts', cell: (d) => d.attempts },
                { title: 'Last answer', cell: (d) => <code>{d.last_status ?? d.last_error ?? '—'}</code> },
                { title: 'Next attempt', cell: (d) => when(d.next_attempt_at) },
                {
                  title: 'Retry',
                  cell: (d) =>
                    d.status === 'delivered' ? null : (
                      <Action label="Retry now" run={() => must(api.POST('/v1/webhooks/{id}/deliveries/{delivery_id}/retry', { params: { path: { id: props.id, delivery_id: d.id } } }))} onDone={deliveries.reload} />
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
