import { useState } from 'preact/hooks';
import { api, must } from '../api/client';
import { StepForm } from './sequence-step-form';
import { Action, Async, Badge, Field, Form, Link, Page, Pager, PAGE_SIZE, Table, scoped, text, useAsync, useScope, when } from '../ui';

export function SequencesPage(props: { path: string }) {
  const id = props.path.split('/')[3];
  return id ? <SequenceDetail id={decodeURIComponent(id)} /> : <SequenceList />;
}

function SequenceList() {
  const scope = useScope();
  const [offset, setOffset] = useState(0);
  const page = useAsync(() => must(api.GET('/v1/bulk/sequences', { params: { query: { limit: PAGE_SIZE, offset, ...scoped(scope) } } })), [offset]);
  return (
    <Page title="Sequences">
      <Form
        class="toolbar"
        label="New sequence"
        submit="Create sequence"
        onSubmit={async (f) => {
          await must(api.POST('/v1/bulk/sequences', { body: { name: text(f, 'name') } }));
          page.reload();
        }}
      >
        <Field label="New sequence name" name="name" required />
      </Form>
      <Async state={page}>
        {(p) => (
          <>
            <Table
              rowKey={(s) => s.id}
              rows={p.data}
              empty="No sequences yet."
              columns={[
                { title: 'Name', cell: (s) => <Link href={`/ui/sequences/${s.id}`}>{s.name}</Link> },
                { title: 'Status', cell: (s) => <Badge value={s.status} /> },
                { title: 'Subscribers', cell: (s) => `${s.subscriber_counts.active} active · ${s.subscriber_counts.paused} paused · ${s.subscriber_counts.completed} completed · ${s.subscriber_counts.cancelled} cancelled` },
                { title: 'Updated', cell: (s) => when(s.updated_at) },
              ]}
            />
            <Pager total={p.total} offset={offset} onOffset={setOffset} />
          </>
        )}
      </Async>
    </Page>
  );
}

const duration = (seconds: number) =>
  seconds === 0 ? 'at once' : seconds % 86400 === 0 ? `${seconds / 86400} d` : seconds % 3600 === 0 ? `${seconds / 3600} h` : seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;

function SequenceDetail(props: { id: string }) {
  const [offset, setOffset] = useState(0);
  const path = { params: { path: { id: props.id } } };
  const sequence = useAsync(() => must(api.GET('/v1/bulk/sequences/{id}', path)), [props.id]);
  const subscribers = useAsync(() => must(api.GET('/v1/bulk/sequences/{id}/subscribers', { params: { path: { id: props.id }, query: { limit: PAGE_SIZE, offset } } })), [props.id, offset]);
  const subscriber = (email: string) => ({ params: { path: { id: props.id, email } } });
  return (
    <Page title={sequence.data?.name ?? 'Sequence'} actions={<Link href="/ui/sequences">All sequences</Link>}>
      <Async state={sequence}>
        {(s) => (
          <>
            <p>
              <Badge value={s.status} />{' '}
              {s.status !== 'active' ? (
                <Action label="Activate" run={() => must(api.PATCH('/v1/bulk/sequences/{id}', { ...path, body: { status: 'active' } }))} onDone={sequence.reload} />
              ) : (
                <Action label="Archive" confirm="Archive this sequence? Nobody new can subscribe." run={() => must(api.PATCH('/v1/bulk/sequences/{id}', { ...path, body: { status: 'archived' } }))} onDone={sequence.reload} />
              )}
            </p>
            <h2>Steps</h2>
            {s.steps.length === 0 ? (
              <div class="empty">No steps yet.</div>
            ) : (
              <ol class="timeline" aria-label="Steps">
                {s.steps.map((step) => (
                  <li key={step.id}>
                    <strong>Step {step.position}</strong> after {duration(step.offset_seconds)}: {step.subject ?? (step.template_id ? `template ${step.template_id}` : '—')}
                  </li>
                ))}
              </ol>
            )}
            <StepForm sequenceId={s.id} nextPosition={Math.max(0, ...s.steps.map((step) => step.position)) + 1} defaultFrom={s.steps.at(-1)?.from_email ?? null} onAdded={sequence.reload} />
          </>
        )}
      </Async>
      <h2>Subscribers</h2>
      <Form
        class="toolbar"
        label="Subscribe"
        submit="Subscribe"
        onSubmit={async (f) => {
          await must(api.POST('/v1/bulk/sequences/{id}/subscribers', { ...path, body: { email: text(f, 'email') } }));
          subscribers.reload();
        }}
      >
        <Field label="Address" name="email" type="email" required />
      </Form>
      <Async state={subscribers}>
        {(p) => (
          <>
            <Table
              rowKey={(sub) => sub.id}
              rows={p.data}
              empty="Nobody is subscribed."
              columns={[
                { title: 'Email', cell: (sub) => sub.email },
                { title: 'State', cell: (sub) => <Badge value={sub.status} /> },
                { title: 'Step sent', cell: (sub) => sub.current_position },
                { title: 'Next send', cell: (sub) => when(sub.next_due_at) },
                {
                  title: 'Actions',
                  cell: (sub) => (
                    <>
                      {sub.status === 'active' ? <Action label="Pause" run={() => must(api.POST('/v1/bulk/sequences/{id}/subscribers/{email}/pause', subscriber(sub.email)))} onDone={subscribers.reload} /> : null}
                      {sub.status === 'paused' ? <Action label="Resume" run={() => must(api.POST('/v1/bulk/sequences/{id}/subscribers/{email}/resume', subscriber(sub.email)))} onDone={subscribers.reload} /> : null}
                      {sub.status === 'active' || sub.status === 'paused' ? (
                        <Action label="Cancel" danger confirm={`Cancel ${sub.email}'s subscription? It cannot be restarted.`} run={() => must(api.DELETE('/v1/bulk/sequences/{id}/subscribers/{email}', subscriber(sub.email)))} onDone={subscribers.reload} />
                      ) : null}
                    </>
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
