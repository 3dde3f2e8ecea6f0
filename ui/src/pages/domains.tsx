import { useState } from 'preact/hooks';
import { api, must } from '../api/client';
import { Action, Async, Badge, Field, Form, Page, Pager, PAGE_SIZE, Table, scoped, text, useAsync, useScope } from '../ui';

function Copy(props: { value: string; label: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      aria-label={props.label}
      onClick={async () => {
        await navigator.clipboard.writeText(props.value);
        setCopied(true);
      }}
    >
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

export function DomainsPage() {
  const scope = useScope();
  const [offset, setOffset] = useState(0);
  const page = useAsync(() => must(api.GET('/v1/domains', { params: { query: { limit: PAGE_SIZE, offset, ...scoped(scope) } } })), [offset]);
  return (
    <Page title="Domains">
      <Form
        class="toolbar"
        label="Add a sending domain"
        submit="Add domain"
        onSubmit={async (f) => {
          await must(api.POST('/v1/domains', { body: { domain: text(f, 'domain') } }));
          page.reload();
        }}
      >
        <Field label="Sending domain" name="domain" required placeholder="example.com" />
      </Form>
      <Async state={page}>
        {(p) =>
          p.data.length === 0 ? (
            <div class="empty">No sending domains. Add one and publish its DNS records.</div>
          ) : (
            <>
              {p.data.map((d) => {
                const path = { params: { path: { domain: d.domain } } };
                return (
                  <article class="panel" key={`${d.key_id}|${d.domain}`}>
                    <h2>
                      {d.domain} <Badge value={d.verified ? 'verified' : 'unverified'} />
                    </h2>
                    <div class="toolbar">
                      <Action label="Verify now" run={() => must(api.POST('/v1/domains/{domain}/verify', path))} onDone={page.reload} />
                      <Action label="Remove domain" danger confirm={`Remove ${d.domain}? Mail from it will be refused.`} run={() => must(api.DELETE('/v1/domains/{domain}', path))} onDone={page.reload} />
                    </div>
                    <Table
                      rowKey={(r) => `${r.purpose}|${r.name}`}
                      rows={d.records}
                      empty="No records."
                      caption={`DNS records to publish for ${d.domain}`}
                      columns={[
                        { title: 'Purpose', cell: (r) => r.purpose },
                        { title: 'Type', cell: (r) => r.type },
                        { title: 'Name', cell: (r) => <><code>{r.name}</code> <Copy value={r.name} label={`Copy the name of the ${r.purpose} record`} /></> },
                        { title: 'Value', cell: (r) => <><code class="wrap">{r.value}</code> <Copy value={r.value} label={`Copy the value of the ${r.purpose} record`} /></> },
                        { title: 'Status', cell: (r) => <Badge value={r.status} /> },
                      ]}
                    />
                  </article>
                );
              })}
              <Pager total={p.total} offset={offset} onOffset={setOffset} />
            </>
          )
        }
      </Async>
    </Page>
  );
}
