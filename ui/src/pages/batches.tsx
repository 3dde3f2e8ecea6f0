import { useEffect, useState } from 'preact/hooks';
import { api, must } from '../api/client';
import { BatchForm } from './batch-form';
import { Action, Async, Badge, Link, Page, Pager, PAGE_SIZE, Table, scoped, useAsync, useScope, when } from '../ui';

export function BatchesPage(props: { path: string }) {
  const id = props.path.split('/')[3];
  return id ? <BatchDetail id={decodeURIComponent(id)} /> : <BatchList />;
}

const counted = (counts: Record<string, number>) =>
  Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([name, n]) => `${name} ${n}`)
    .join(' · ');

function BatchList() {
  const scope = useScope();
  const [offset, setOffset] = useState(0);
  const page = useAsync(() => must(api.GET('/v1/batches', { params: { query: { limit: PAGE_SIZE, offset, ...scoped(scope) } } })), [offset]);
  return (
    <Page title="Batches">
      <p class="muted">Batches are submitted here or through POST /v1/batches; here they are watched, approved and exported.</p>
      <BatchForm />
      <Async state={page}>
        {(p) => (
          <>
            <Table
              rowKey={(b) => b.id}
              rows={p.data}
              empty="No batches yet."
              columns={[
                { title: 'Batch', cell: (b) => <Link href={`/ui/batches/${b.id}`}>{b.id}</Link> },
                { title: 'Status', cell: (b) => <Badge value={b.status} /> },
                { title: 'Counts', cell: (b) => counted(b.counts) },
                { title: 'Created', cell: (b) => when(b.created_at) },
              ]}
            />
            <Pager total={p.total} offset={offset} onOffset={setOffset} />
          </>
        )}
      </Async>
    </Page>
  );
}

/** Follows the batch's Server-Sent Events (the cookie goes with them) and reloads the batch on each. */
function useBatchEvents(id: string, onEvent: () => void): string | null {
  const [last, setLast] = useState<string | null>(null);
  useEffect(() => {
    const source = new EventSource(`/v1/batches/${encodeURIComponent(id)}/events`, { withCredentials: true });
    const seen = (event: MessageEvent<string>) => {
      setLast(event.type);
      onEvent();
      if (event.type === 'batch.completed') source.close();
    };
    source.addEventListener('batch.progress', seen);
    source.addEventListener('batch.completed', seen);
    return () => source.close();
  }, [id]);
  return last;
}

function BatchDetail(props: { id: string }) {
  const path = { params: { path: { id: props.id } } };
  const batch = useAsync(() => must(api.GET('/v1/batches/{id}', path)), [props.id]);
  const decisions = useAsync(() => must(api.GET('/v1/batches/{id}/decisions', path)), [props.id]);
  const last = useBatchEvents(props.id, batch.reload);
  const refresh = () => {
    batch.reload();
    decisions.reload();
  };
  return (
    <Page title="Batch" actions={<Link href="/ui/batches">All batches</Link>}>
      <Async state={batch}>
        {(b) => {
          const submitted = b.counts.accepted ?? b.counts.submitted ?? 0;
          const done = (b.counts.sent ?? 0) + (b.counts.bounced ?? 0) + (b.counts.failed ?? 0) + (b.counts.dropped ?? 0);
          return (
            <>
              <dl class="facts">
                <dt>ID</dt>
                <dd>
                  <code>{b.id}</code>
                </dd>
                <dt>Status</dt>
                <dd>
                  <Badge value={b.status} /> {b.outcome ? <Badge value={b.outcome} /> : null}
                </dd>
                <dt>Progress</dt>
                <dd>
                  <progress max={Math.max(1, submitted)} value={done} aria-label="Messages final" /> {done} of {submitted}
                  <span class="muted"> {last ? `(live: ${last})` : ''}</span>
                </dd>
                <dt>Counts</dt>
                <dd>{counted(b.counts)}</dd>
                {b.hold ? (
                  <>
                    <dt>Held</dt>
                    <dd>
                      {b.hold.reason} (bounce rate {(b.hold.bounce_rate * 100).toFixed(1)} %, complaint rate {(b.hold.complaint_rate * 100).toFixed(2)} %)
                    </dd>
                  </>
                ) : null}
              </dl>
              <div class="toolbar">
                {b.status === 'awaiting_approval' ? (
                  <Action label="Approve the rest" confirm="The canary looks right: send to every other recipient?" run={() => must(api.POST('/v1/batches/{id}/approve', path))} onDone={refresh} />
                ) : null}
                <Action label="Retry failed" run={() => must(api.POST('/v1/batches/{id}/retry-failed', path))} onDone={refresh} />
                <Action label="Cancel batch" danger confirm="Cancel this batch? Unsent messages are dropped." run={() => must(api.POST('/v1/batches/{id}/cancel', path))} onDone={refresh} />
                <a href={`/v1/batches/${encodeURIComponent(b.id)}/recipients?format=csv`} download>
                  Export outcomes (CSV)
                </a>
              </div>
            </>
          );
        }}
      </Async>
      <h2>Decision log</h2>
      <Async state={decisions}>
        {(d) => (
          <Table
            rowKey={(row) => `${row.first_at}|${row.provider}|${row.reason}`}
            rows={d.data}
            empty="No routing decisions yet."
            columns={[
              { title: 'Provider', cell: (row) => row.provider ?? '—' },
              { title: 'Reason', cell: (row) => row.reason },
              { title: 'Detail', cell: (row) => row.detail ?? '—' },
              { title: 'Count', cell: (row) => row.count },
              { title: 'Last', cell: (row) => when(row.last_at) },
            ]}
          />
        )}
      </Async>
    </Page>
  );
}
