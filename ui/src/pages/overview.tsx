import { useState } from 'preact/hooks';
import { api, must } from '../api/client';
import { TimeChart } from '../chart';
import { Async, Badge, Empty, Link, Page, Table, scoped, useAsync, useScope, when } from '../ui';

const COUNTERS = ['sent', 'delivered', 'bounced', 'complained', 'opened', 'clicked', 'unsubscribed', 'failed'] as const;
type Channel = '' | 'transactional' | 'bulk';

const RANGES = {
  '24h': { hours: 24, interval: 'hour' },
  '7d': { hours: 24 * 7, interval: 'day' },
  '30d': { hours: 24 * 30, interval: 'day' },
} as const;
type Range = keyof typeof RANGES;

function loadStats(range: Range, channel: Channel, keyId: string | undefined) {
  const { hours, interval } = RANGES[range];
  const to = new Date();
  const from = new Date(to.getTime() - hours * 3_600_000);
  const query = { from: from.toISOString(), to: to.toISOString(), interval, ...(channel ? { channel } : {}), ...(keyId ? { key_id: keyId } : {}) };
  return must(api.GET('/v1/stats', { params: { query } }));
}

export function OverviewPage() {
  const scope = useScope();
  const [range, setRange] = useState<Range>('7d');
  const [channel, setChannel] = useState<Channel>('');
  const stats = useAsync(() => loadStats(range, channel, scope.keyId), [range, channel]);
  const queue = useAsync(async () => {
    const count = async (status: 'queued' | 'sending' | 'deferred') =>
      (await must(api.GET('/v1/messages', { params: { query: { status, limit: 1, offset: 0, ...scoped(scope) } } }))).total;
    const [queued, sending, deferred] = await Promise.all([count('queued'), count('sending'), count('deferred')]);
    return { queued, sending, deferred };
  }, []);
  const problems = useAsync(async () => {
    const page = async (status: 'bounced' | 'failed') => (await must(api.GET('/v1/messages', { params: { query: { status, limit: 5, offset: 0, ...scoped(scope) } } }))).data;
    const [bounced, failed] = await Promise.all([page('bounced'), page('failed')]);
    return [...bounced, ...failed].sort((a, b) => b.created_at.localeCompare(a.created_at)).slice(0, 8);
  }, []);

  return (
    <Page title="Overview">
      <div class="toolbar" role="group" aria-label="Range">
        {(Object.keys(RANGES) as Range[]).map((r) => (
          <button key={r} type="button" aria-pressed={r === range} onClick={() => setRange(r)}>
            {r === '24h' ? 'Last 24 hours' : r === '7d' ? 'Last 7 days' : 'Last 30 days'}
          </button>
        ))}
        <label class="field inline">
          <span>Channel</span>
          <select value={channel} onChange={(e) => setChannel(e.currentTarget.value as Channel)}>
            <option value="">all</option>
            <option value="transactional">transactional</option>
            <option value="bulk">bulk</option>
          </select>
        </label>
      </div>
      <Async state={stats}>
        {(data) => (
          <>
            <dl class="tiles" aria-label="Totals">
              {COUNTERS.map((c) => (
                <div key={c}>
                  <dt>{c}</dt>
                  <dd data-testid={`total-${c}`}>{data.totals[c].toLocaleString()}</dd>
                </div>
              ))}
            </dl>
            {data.series.every((s) => COUNTERS.every((c) => s[c] === 0)) ? (
              <Empty>No mail in this range.</Empty>
            ) : (
              <TimeChart
                label={`Messages per ${data.interval}`}
                times={data.series.map((s) => s.start)}
                series={COUNTERS.filter((c) => c !== 'failed').map((c) => ({ name: c, values: data.series.map((s) => s[c]) }))}
              />
            )}
          </>
        )}
      </Async>
      <h2>Queue</h2>
      <Async state={queue}>
        {(q) => (
          <dl class="tiles" aria-label="Queue depth">
            <div>
              <dt>queued</dt>
              <dd>{q.queued}</dd>
            </div>
            <div>
              <dt>sending</dt>
              <dd>{q.sending}</dd>
            </div>
            <div>
              <dt>deferred</dt>
              <dd>{q.deferred}</dd>
            </div>
          </dl>
        )}
      </Async>
      <h2>Recent problems</h2>
      <Async state={problems}>
        {(rows) => (
          <Table
            rowKey={(m) => m.id}
            rows={rows}
            empty="No bounced or failed messages."
            columns={[
              { title: 'To', cell: (m) => <Link href={`/ui/messages/${m.id}`}>{m.to}</Link> },
              { title: 'Status', cell: (m) => <Badge value={m.status} /> },
              { title: 'Last reply', cell: (m) => <code>{m.last_response ?? '—'}</code> },
              { title: 'Created', cell: (m) => when(m.created_at) },
            ]}
          />
        )}
      </Async>
    </Page>
  );
}
