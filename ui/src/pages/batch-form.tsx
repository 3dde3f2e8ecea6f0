import { useState } from 'preact/hooks';
import { api, must } from '../api/client';
import { Field, Form, navigate, orNull, text } from '../ui';
import { TemplateField } from './template-field';

type Recipient = { email: string; name?: string; variables?: Record<string, unknown> };

/**
 * Pasted recipients: NDJSON (one {"email", "name"?, "variables"?} per line) when the first line is an
 * object, otherwise CSV with a header row whose `email` and `name` columns are those fields and every
 * other column a variable. The CSV parser is loaded only when a CSV is submitted.
 */
export async function parseRecipients(pasted: string): Promise<Recipient[]> {
  const trimmed = pasted.trim();
  if (trimmed.startsWith('{')) {
    return trimmed
      .split(/\r?\n/)
      .filter((line) => line.trim())
      .map((line, i) => {
        try {
          return JSON.parse(line) as Recipient;
        } catch {
          throw new Error(`line ${i + 1} is not JSON`);
        }
      });
  }
  const { parse } = await import('csv-parse/browser/esm/sync');
  const rows = parse(trimmed, { columns: true, skip_empty_lines: true, trim: true }) as Record<string, string>[];
  if (rows.length > 0 && !('email' in rows[0]!)) throw new Error('the CSV needs a header row with an email column');
  return rows.map(({ email, name, ...variables }) => ({ email: email ?? '', ...(name ? { name } : {}), ...(Object.keys(variables).length ? { variables } : {}) }));
}

/** Submits a batch (POST /v1/batches) from pasted recipients and one content, then opens its page. */
export function BatchForm() {
  const [rejected, setRejected] = useState<string | null>(null);
  return (
    <details class="panel">
      <summary>Submit a batch</summary>
      <Form
        label="New batch"
        submit="Submit batch"
        onSubmit={async (f) => {
          setRejected(null);
          const recipients = await parseRecipients(text(f, 'recipients'));
          if (recipients.length === 0) throw new Error('no recipients');
          const plain = orNull(text(f, 'body_text'));
          const html = orNull(text(f, 'html'));
          const content: { type: string; value: string }[] = [...(plain ? [{ type: 'text/plain', value: plain }] : []), ...(html ? [{ type: 'text/html', value: html }] : [])];
          const template = orNull(text(f, 'template_id'));
          const subject = orNull(text(f, 'subject'));
          const fromName = orNull(text(f, 'from_name'));
          const accepted = await must(
            api.POST('/v1/batches', {
              body: {
                from: { email: text(f, 'from_email'), ...(fromName ? { name: fromName } : {}) },
                ...(subject ? { subject } : {}),
                ...(content.length ? { content } : {}),
                ...(template ? { template_id: template } : {}),
                channel: 'bulk',
                recipients,
              },
            }),
          );
          if (accepted.counts.accepted === 0) setRejected(`Every recipient was rejected (${accepted.rejections.map((r) => `${r.email}: ${r.reason}`).join(', ')}).`);
          else navigate(`/ui/batches/${accepted.id}`);
        }}
      >
        <Field label="Recipients (CSV with a header, or NDJSON)" name="recipients">
          <textarea name="recipients" rows={6} required placeholder={'email,name,plan\nana@example.com,Ana,pro'} />
        </Field>
        <Field label="From address" name="from_email" type="email" required />
        <Field label="From name" name="from_name" />
        <Field label="Subject" name="subject" placeholder="Hello {{name}}" />
        <TemplateField />
        <Field label="Text" name="body_text">
          <textarea name="body_text" rows={4} />
        </Field>
        <Field label="HTML" name="html">
          <textarea name="html" rows={4} />
        </Field>
      </Form>
      {rejected ? <p role="alert">{rejected}</p> : null}
    </details>
  );
}
