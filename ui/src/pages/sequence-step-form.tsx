import { api, must } from '../api/client';
import { Field, Form, orNull, text } from '../ui';
import { TemplateField } from './template-field';

const UNITS = { minutes: 60, hours: 3600, days: 86400 } as const;

/** Adds a step: its own subject and content, or a template of the key (whose parts the fields given replace). */
export function StepForm(props: { sequenceId: string; nextPosition: number; defaultFrom: string | null; onAdded: () => void }) {
  return (
    <details class="panel">
      <summary>Add a step</summary>
      <Form
        label="New step"
        submit="Add step"
        onSubmit={async (f) => {
          const unit = text(f, 'unit') as keyof typeof UNITS;
          const optional = (name: string) => orNull(text(f, name)) ?? undefined;
          await must(
            api.POST('/v1/bulk/sequences/{id}/steps', {
              params: { path: { id: props.sequenceId } },
              body: {
                position: Number(text(f, 'position')),
                offset_seconds: Math.round(Number(text(f, 'wait')) * UNITS[unit]),
                subject: optional('subject'),
                from_email: optional('from_email'),
                template_id: optional('template_id'),
                html: optional('html'),
                body_text: optional('body_text'),
              },
            }),
          );
          props.onAdded();
        }}
      >
        <Field label="Position" name="position">
          <input name="position" type="number" min={1} required value={String(props.nextPosition)} />
        </Field>
        <Field label="Wait" name="wait">
          <input name="wait" type="number" min={0} step="any" required value="1" />
        </Field>
        <Field label="Unit" name="unit">
          <select name="unit" value="days">
            {Object.keys(UNITS).map((u) => (
              <option key={u} value={u}>
                {u}
              </option>
            ))}
          </select>
        </Field>
        <TemplateField />
        <Field label="Step subject" name="subject" placeholder="Welcome, {{name}}" />
        <Field label="From address" name="from_email" type="email" value={props.defaultFrom ?? undefined} placeholder="hello@example.com" />
        <Field label="Step HTML" name="html">
          <textarea name="html" rows={5} />
        </Field>
        <Field label="Step text" name="body_text">
          <textarea name="body_text" rows={3} />
        </Field>
      </Form>
    </details>
  );
}
