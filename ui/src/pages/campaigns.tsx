import { useState } from 'preact/hooks';
import { api, must } from '../api/client';
import { Action, Async, Badge, Field, Form, Link, Page, Pager, PAGE_SIZE, Table, navigate, orNull, scoped, text, useAsync, usePolling, useScope, when } from '../ui';

export function CampaignsPage(props: { path: string }) {
  const id = props.path.split('/')[3];
  return id ? <CampaignDetail id={decodeURIComponent(id)} /> : <CampaignList />;
}

function CampaignList() {
  const scope = useScope();
  const [offset, setOffset] = useState(0);
  const page = useAsync(() => must(api.GET('/v1/bulk/campaigns', { params: { query: { limit: PAGE_SIZE, offset, ...scoped(scope) } } })), [offset]);
  const choices = useAsync(async () => {
    const [lists, templates] = await Promise.all([
      must(api.GET('/v1/bulk/lists', { params: { query: { limit: 1000, offset: 0 } } })),
      must(api.GET('/v1/bulk/templates', { params: { query: { limit: 1000, offset: 0 } } })),
    ]);
    return { lists: lists.data, templates: templates.data };
  }, []);
  return (
    <Page title="Campaigns">
      <details class="panel">
        <summary>New campaign</summary>
        <Async state={choices}>
          {({ lists, templates }) => (
            <Form
              label="New campaign"
              submit="Create draft"
              onSubmit={async (f) => {
                const created = await must(
                  api.POST('/v1/bulk/campaigns', {
                    body: { name: text(f, 'name'), list_id: text(f, 'list_id'), template_id: text(f, 'template_id'), from_email: text(f, 'from_email'), from_name: orNull(text(f, 'from_name')), subject: orNull(text(f, 'subject')) },
                  }),
                );
                navigate(`/ui/campaigns/${created.id}`);
              }}
            >
              <Field label="Name" name="name" required />
              <Field label="List" name="list_id">
                <select name="list_id" required>
                  {lists.map((l) => (
                    <option key={l.id} value={l.id}>
                      {l.name}
                    </option>
                  ))}
                </select>
              </Field>
              <Field label="Template" name="template_id">
                <select name="template_id" required>
                  {templates.map((t) => (
                    <option key={t.id} value={t.id}>
                      {t.name}
                    </option>
                  ))}
                </select>
              </Field>
              <Field label="From address" name="from_email" type="email" required placeholder="news@your-domain.com" />
              <Field label="From name" name="from_name" />
              <Field label="Subject (overrides the template's)" name="subject" />
            </Form>
          )}
        </Async>
      </details>
      <Async state={page}>
        {(p) => (
          <>
            <Table
              rowKey={(c) => c.id}
              rows={p.data}
              empty="No campaigns yet. Create one from a list and a template."
              columns={[
                { title: 'Name', cell: (c) => <Link href={`/ui/campaigns/${c.id}`}>{c.name}</Link> },
                { title: 'Status', cell: (c) => <Badge value={c.status} /> },
                { title: 'From', cell: (c) => c.from_email },
                { title: 'Sent', cell: (c) => when(c.sent_at) },
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

const STAT_ROWS = ['sent', 'delivered', 'bounced', 'complained', 'opened', 'clicked', 'unsubscribed', 'skipped_suppressed', 'dropped', 'failed', 'pending'] as const;

function CampaignStats(props: { stats: Awaited<ReturnType<typeof loadStats>> }) {
  const s = props.stats;
  return (
    <table class="bars" aria-label="Campaign statistics">
      <tbody>
        <tr>
          <th scope="row">recipients</th>
          <td data-stat="recipients">{s.recipients}</td>
          <td />
        </tr>
        {STAT_ROWS.map((name) => (
          <tr key={name}>
            <th scope="row">{name.replace('_', ' ')}</th>
            <td data-stat={name}>{s[name]}</td>
            <td>
              <progress max={Math.max(1, s.recipients)} value={s[name]} aria-label={`${name} of recipients`} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const loadStats = (id: string) => must(api.GET('/v1/bulk/campaigns/{id}/stats', { params: { path: { id } } }));

function CampaignDetail(props: { id: string }) {
  const path = { params: { path: { id: props.id } } };
  const campaign = useAsync(() => must(api.GET('/v1/bulk/campaigns/{id}', path)), [props.id]);
  const stats = useAsync(() => loadStats(props.id), [props.id]);
  const live = campaign.data?.status === 'send' || campaign.data?.status === 'paused' || stats.data?.pending !== 0;
  usePolling(stats.reload, 2000, Boolean(live && campaign.data && campaign.data.status !== 'cancelled' && campaign.data.status !== 'draft'));
  usePolling(campaign.reload, 5000, campaign.data?.status === 'send');
  const refresh = () => {
    campaign.reload();
    stats.reload();
  };
  return (
    <Page title="Campaign" actions={<Link href="/ui/campaigns">All campaigns</Link>}>
      <Async state={campaign}>
        {(c) => (
          <>
            <dl class="facts">
              <dt>Name</dt>
              <dd>{c.name}</dd>
              <dt>Status</dt>
              <dd>
                <Badge value={c.status} />
              </dd>
              <dt>List</dt>
              <dd>{c.list_id}</dd>
              <dt>Template</dt>
              <dd>{c.template_id}</dd>
              <dt>From</dt>
              <dd>{c.from_name ? `${c.from_name} <${c.from_email}>` : c.from_email}</dd>
              <dt>Started</dt>
              <dd>{when(c.started_at)}</dd>
              <dt>Sent</dt>
              <dd>{when(c.sent_at)}</dd>
            </dl>
            <div class="toolbar">
              {c.status === 'draft' ? <Action label="Send now" confirm={`Send "${c.name}" to every member of its list?`} run={() => must(api.POST('/v1/bulk/campaigns/{id}/send', path))} onDone={refresh} /> : null}
              {c.status === 'send' ? <Action label="Pause" run={() => must(api.POST('/v1/bulk/campaigns/{id}/pause', path))} onDone={refresh} /> : null}
              {c.status === 'paused' ? <Action label="Resume" run={() => must(api.POST('/v1/bulk/campaigns/{id}/resume', path))} onDone={refresh} /> : null}
              {c.status === 'send' || c.status === 'paused' ? (
                <Action label="Cancel" danger confirm="Cancel this campaign? Unsent messages are dropped." run={() => must(api.POST('/v1/bulk/campaigns/{id}/cancel', path))} onDone={refresh} />
              ) : null}
              {c.status === 'draft' ? (
                <Action label="Delete" danger confirm="Delete this draft?" run={() => must(api.DELETE('/v1/bulk/campaigns/{id}', path))} onDone={() => navigate('/ui/campaigns')} />
              ) : null}
            </div>
            {c.status === 'draft' ? <TestSend campaign={c} /> : null}
          </>
        )}
      </Async>
      <h2>Statistics</h2>
      <Async state={stats}>{(s) => <CampaignStats stats={s} />}</Async>
    </Page>
  );
}

type Campaign = Awaited<ReturnType<typeof loadCampaign>>;
const loadCampaign = (id: string) => must(api.GET('/v1/bulk/campaigns/{id}', { params: { path: { id } } }));

/** The campaign's template rendered for one address and sent to it as a transactional message. */
function TestSend(props: { campaign: Campaign }) {
  const [sent, setSent] = useState<string | null>(null);
  const c = props.campaign;
  return (
    <Form
      label="Test send"
      submit="Send a test"
      onSubmit={async (f) => {
        const to = text(f, 'to');
        const rendered = await must(api.POST('/v1/bulk/templates/{id}/render', { params: { path: { id: c.template_id } }, body: { variables: { email: to, name: '' } } }));
        const content = [
          ...(rendered.text ? [{ type: 'text/plain', value: rendered.text }] : []),
          ...(rendered.html ? [{ type: 'text/html', value: rendered.html }] : []),
        ];
        await must(
          api.POST('/v1/mail/send', {
            body: { personalizations: [{ to: [{ email: to }] }], from: { email: c.from_email, ...(c.from_name ? { name: c.from_name } : {}) }, subject: `[Test] ${c.subject ?? rendered.subject}`, content },
          }),
        );
        setSent(to);
      }}
    >
      <Field label="Send a test to" name="to" type="email" required />
      {sent ? <p role="status">Test queued for {sent}.</p> : null}
    </Form>
  );
}
