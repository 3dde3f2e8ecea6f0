import { useState } from 'preact/hooks';
import { api, must } from '../api/client';
import { Action, Async, Field, Form, Link, Page, Pager, PAGE_SIZE, Table, navigate, scoped, text, useAsync, useScope, when } from '../ui';

export function ListsPage(props: { path: string }) {
  const id = props.path.split('/')[3];
  return id ? <ListDetail id={decodeURIComponent(id)} /> : <AllLists />;
}

function AllLists() {
  const scope = useScope();
  const [offset, setOffset] = useState(0);
  const page = useAsync(() => must(api.GET('/v1/bulk/lists', { params: { query: { limit: PAGE_SIZE, offset, ...scoped(scope) } } })), [offset]);
  return (
    <Page title="Lists">
      <Form
        class="toolbar"
        label="New list"
        submit="Create list"
        onSubmit={async (f) => {
          await must(api.POST('/v1/bulk/lists', { body: { name: text(f, 'name') } }));
          page.reload();
        }}
      >
        <Field label="New list name" name="name" required />
      </Form>
      <Async state={page}>
        {(p) => (
          <>
            <Table
              rowKey={(l) => l.id}
              rows={p.data}
              empty="No lists yet."
              columns={[
                { title: 'Name', cell: (l) => <Link href={`/ui/lists/${l.id}`}>{l.name}</Link> },
                { title: 'ID', cell: (l) => <code>{l.id}</code> },
                { title: 'Members', cell: (l) => `${l.member_counts.total} (${l.member_counts.active} active, ${l.member_counts.unsubscribed} unsubscribed, ${l.member_counts.bounced} bounced, ${l.member_counts.complained} complained)` },
                { title: 'Created', cell: (l) => when(l.created_at) },
              ]}
            />
            <Pager total={p.total} offset={offset} onOffset={setOffset} />
          </>
        )}
      </Async>
    </Page>
  );
}

function ListDetail(props: { id: string }) {
  const [offset, setOffset] = useState(0);
  const path = { params: { path: { id: props.id } } };
  const list = useAsync(() => must(api.GET('/v1/bulk/lists/{id}', path)), [props.id]);
  const members = useAsync(() => must(api.GET('/v1/bulk/lists/{id}/contacts', { params: { path: { id: props.id }, query: { limit: PAGE_SIZE, offset } } })), [props.id, offset]);
  return (
    <Page title={list.data?.name ?? 'List'} actions={<Link href="/ui/lists">All lists</Link>}>
      <div class="toolbar">
        <Action label="Delete list" danger confirm="Delete this list? Its contacts stay." run={() => must(api.DELETE('/v1/bulk/lists/{id}', path))} onDone={() => navigate('/ui/lists')} />
      </div>
      <Form
        label="Add members"
        submit="Add"
        onSubmit={async (f) => {
          const emails = text(f, 'emails').split(/[\s,;]+/).filter(Boolean);
          await must(api.POST('/v1/bulk/lists/{id}/contacts', { ...path, body: { emails } }));
          members.reload();
          list.reload();
        }}
      >
        <Field label="Addresses (one a line)" name="emails">
          <textarea name="emails" rows={3} required />
        </Field>
      </Form>
      <Async state={members}>
        {(p) => (
          <>
            <Table
              rowKey={(c) => c.email}
              rows={p.data}
              empty="This list has no members."
              columns={[
                { title: 'Email', cell: (c) => c.email },
                { title: 'Status', cell: (c) => c.status },
                {
                  title: 'Remove',
                  cell: (c) => (
                    <Action label="Remove" danger confirm={`Remove ${c.email} from this list?`} run={() => must(api.DELETE('/v1/bulk/lists/{id}/contacts/{email}', { params: { path: { id: props.id, email: c.email } } }))} onDone={members.reload} />
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
