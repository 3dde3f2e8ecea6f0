import { useState } from 'preact/hooks';
import { api, must } from '../api/client';
import { Action, Async, Badge, Field, Form, Page, Pager, PAGE_SIZE, Table, text, useAsync, when } from '../ui';

/** Admin only (the navigation shows it to admins; the API refuses the rest). */
export function KeysPage() {
  const [offset, setOffset] = useState(0);
  const [created, setCreated] = useState<{ name: string; key: string } | null>(null);
  const page = useAsync(() => must(api.GET('/v1/keys', { params: { query: { limit: PAGE_SIZE, offset } } })), [offset]);
  return (
    <Page title="Keys">
      <Form
        class="toolbar"
        label="New API key"
        submit="Create key"
        onSubmit={async (f) => {
          const key = await must(api.POST('/v1/keys', { body: { name: text(f, 'name'), admin: f.get('admin') === 'on' } }));
          setCreated({ name: key.name, key: key.key });
          page.reload();
        }}
      >
        <Field label="Name" name="name" required />
        <label class="field inline">
          <input type="checkbox" name="admin" /> <span>admin</span>
        </label>
      </Form>
      {created ? (
        <p role="status">
          Key “{created.name}” (shown once, copy it now): <code data-new-key>{created.key}</code>
        </p>
      ) : null}
      <Async state={page}>
        {(p) => (
          <>
            <Table
              rowKey={(k) => k.id}
              rows={p.data}
              empty="No keys."
              columns={[
                { title: 'Name', cell: (k) => k.name },
                { title: 'ID', cell: (k) => <code>{k.id}</code> },
                { title: 'Kind', cell: (k) => (k.admin ? 'admin' : 'key') },
                { title: 'State', cell: (k) => <Badge value={k.revoked_at ? 'revoked' : 'active'} /> },
                { title: 'Created', cell: (k) => when(k.created_at) },
                {
                  title: 'Revoke',
                  cell: (k) =>
                    k.revoked_at ? null : <Action label="Revoke" danger confirm={`Revoke “${k.name}”? Everything using it stops working.`} run={() => must(api.DELETE('/v1/keys/{id}', { params: { path: { id: k.id } } }))} onDone={page.reload} />,
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
