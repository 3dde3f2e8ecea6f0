import type { ColumnType, Generated } from 'kysely';

export interface TemplatesTable {
  id: string;
  key_id: string;
  name: string;
  subject: string;
  html: string | null;
  body_text: string | null;
  created_at: Generated<Date>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface TemplatesTables {
  templates: TemplatesTable;
}
