import { useEffect, useState } from 'preact/hooks';
import { api, must } from '../api/client';
import { Action, Async, ErrorNote, Field, Form, Link, Page, Pager, PAGE_SIZE, Table, navigate, orNull, scoped, text, useAsync, useScope, when } from '../ui';

export function TemplatesPage(props: { path: string }) {
  const id = props.path.split('/')[3];
  return id ? <TemplateEditor id={decodeURIComponent(id)} /> : <TemplateList />;
}

function TemplateList() {
  const scope = useScope();
  const [offset, setOffset] = useState(0);
  const page = useAsync(() => must(api.GET('/v1/bulk/templates', { params: { query: { limit: PAGE_SIZE, offset, ...scoped(scope) } } })), [offset]);
  return (
    <Page title="Templates">
      <details class="panel">
        <summary>New template</summary>
        <Form
          label="New template"
          submit="Create template"
          onSubmit={async (f) => {
            const created = await must(api.POST('/v1/bulk/templates', { body: { name: text(f, 'name'), subject: text(f, 'subject'), html: orNull(text(f, 'html')), body_text: orNull(text(f, 'body_text')) } }));
            navigate(`/ui/templates/${created.id}`);
          }}
        >
          <Field label="Name" name="name" required />
          <Field label="Subject" name="subject" required placeholder="Hello {{name}}" />
          <Field label="HTML" name="html">
            <textarea name="html" rows={6} />
          </Field>
          <Field label="Text" name="body_text">
            <textarea name="body_text" rows={4} />
          </Field>
        </Form>
      </details>
      <Async state={page}>
        {(p) => (
          <>
            <Table
              rowKey={(t) => t.id}
              rows={p.data}
              empty="No templates yet."
              columns={[
                { title: 'Name', cell: (t) => <Link href={`/ui/templates/${t.id}`}>{t.name}</Link> },
                { title: 'Subject', cell: (t) => t.subject },
                { title: 'Updated', cell: (t) => when(t.updated_at) },
              ]}
            />
            <Pager total={p.total} offset={offset} onOffset={setOffset} />
          </>
        )}
      </Async>
    </Page>
  );
}

/** Edits a template; the preview is the render endpoint's answer for the saved version and the given variables. */
function TemplateEditor(props: { id: string }) {
  const path = { params: { path: { id: props.id } } };
  const template = useAsync(() => must(api.GET('/v1/bulk/templates/{id}', path)), [props.id]);
  const [variables, setVariables] = useState('{"name": "Ada", "email": "ada@example.com"}');
  const [mode, setMode] = useState<'html' | 'text'>('html');
  const [saved, setSaved] = useState(0);
  const [preview, setPreview] = useState<{ subject: string; html: string | null; text: string | null } | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  useEffect(() => {
    const timer = setTimeout(async () => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(variables) as Record<string, unknown>;
      } catch {
        setPreviewError('The variables are not valid JSON.');
        return;
      }
      try {
        setPreview(await must(api.POST('/v1/bulk/templates/{id}/render', { ...path, body: { variables: parsed } })));
        setPreviewError(null);
      } catch (e) {
        setPreviewError((e as Error).message);
      }
    }, 300);
    return () => clearTimeout(timer);
  }, [props.id, variables, saved]);

  return (
    <Page title="Template" actions={<Link href="/ui/templates">All templates</Link>}>
      <Async state={template}>
        {(t) => (
          <div class="split">
            <Form
              label="Edit template"
              submit="Save"
              onSubmit={async (f) => {
                await must(api.PATCH('/v1/bulk/templates/{id}', { ...path, body: { name: text(f, 'name'), subject: text(f, 'subject'), html: orNull(text(f, 'html')), body_text: orNull(text(f, 'body_text')) } }));
                template.reload();
                setSaved((n) => n + 1);
              }}
            >
              <Field label="Name" name="name" required value={t.name} />
              <Field label="Subject" name="subject" required value={t.subject} />
              <Field label="HTML" name="html">
                <textarea name="html" rows={12} value={t.html ?? ''} />
              </Field>
              <Field label="Text" name="body_text">
                <textarea name="body_text" rows={6} value={t.body_text ?? ''} />
              </Field>
              <p class="muted">Variables: {'{{name}}, {{email}}, {{metadata.plan}}, {{unsubscribe_url}}'} and any given per send.</p>
            </Form>
            <div>
              <label class="field">
                <span>Preview variables (JSON)</span>
                <textarea rows={3} value={variables} onInput={(e) => setVariables(e.currentTarget.value)} />
              </label>
              <div class="toolbar" role="group" aria-label="Preview format">
                <button type="button" aria-pressed={mode === 'html'} onClick={() => setMode('html')}>
                  HTML
                </button>
                <button type="button" aria-pressed={mode === 'text'} onClick={() => setMode('text')}>
                  Text
                </button>
              </div>
              {previewError ? <ErrorNote error={previewError} /> : null}
              {preview ? (
                <>
                  <p>
                    <strong>Subject:</strong> <span data-preview-subject>{preview.subject}</span>
                  </p>
                  {mode === 'html' ? (
                    preview.html === null ? <p class="muted">No HTML part.</p> : <iframe title="HTML preview" class="preview" sandbox="" srcdoc={preview.html} />
                  ) : preview.text === null ? (
                    <p class="muted">No text part.</p>
                  ) : (
                    <pre class="preview">{preview.text}</pre>
                  )}
                </>
              ) : null}
              <Action label="Delete template" danger confirm="Delete this template?" run={() => must(api.DELETE('/v1/bulk/templates/{id}', path))} onDone={() => navigate('/ui/templates')} />
            </div>
          </div>
        )}
      </Async>
    </Page>
  );
}
