import { api, must } from '../api/client';
import { Field, useAsync } from '../ui';

/** The key's templates as a `template_id` select, with "none" for content written in the form itself. */
export function TemplateField() {
  const templates = useAsync(() => must(api.GET('/v1/bulk/templates', { params: { query: { limit: 1000, offset: 0 } } })), []);
  return (
    <Field label="Template" name="template_id">
      <select name="template_id">
        <option value="">none (content below)</option>
        {(templates.data?.data ?? []).map((t) => (
          <option key={t.id} value={t.id}>
            {t.name}
          </option>
        ))}
      </select>
    </Field>
  );
}
