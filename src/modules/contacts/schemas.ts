import { Type } from 'typebox';

export const ContactStatusSchema = Type.Union(
  [Type.Literal('active'), Type.Literal('unsubscribed'), Type.Literal('bounced'), Type.Literal('complained')],
  { description: 'unsubscribed, bounced and complained put the address on the key\'s suppression list; active takes it off (recorded).' },
);

export const Metadata = Type.Record(Type.String(), Type.Unknown(), { description: 'Free-form JSON object.' });

export const Contact = Type.Object({
  id: Type.Integer(),
  email: Type.String({ description: 'Unique per key, compared case-insensitively, stored as given.' }),
  name: Type.Union([Type.String(), Type.Null()]),
  metadata: Metadata,
  status: ContactStatusSchema,
  key_id: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

export const ContactBody = Type.Object(
  {
    email: Type.String({ examples: ['ana@empresa.com'] }),
    name: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    metadata: Type.Optional(Type.Unknown({ description: 'A JSON object; when given it replaces the stored one.' })),
  },
  { additionalProperties: false },
);

export const ContactPatchBody = Type.Object(
  {
    name: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    status: Type.Optional(ContactStatusSchema),
    metadata: Type.Optional(Type.Unknown({ description: 'Merged into the stored object; a key set to null is removed.' })),
  },
  { additionalProperties: false },
);

export const EmailParams = Type.Object({ email: Type.String({ minLength: 1, maxLength: 320, description: 'URL-encoded address.' }) });

export const EmailsBody = Type.Object({ emails: Type.Array(Type.String({ maxLength: 320 }), { maxItems: 100_000 }) }, { additionalProperties: false });

export const ImportResultSchema = Type.Object({
  created: Type.Integer(),
  updated: Type.Integer(),
  failed: Type.Integer(),
  errors: Type.Array(
    Type.Object({
      index: Type.Integer({ description: '0-based row: array element, NDJSON line or CSV record after the header.' }),
      email: Type.Union([Type.String(), Type.Null()]),
      code: Type.String({ description: 'invalid_email, missing_email, duplicate, too_long, invalid_metadata, invalid_name, invalid_json' }),
      message: Type.String(),
    }),
    { description: 'The first 1,000 failed rows in row order.' },
  ),
  errors_truncated: Type.Optional(Type.Boolean({ description: 'Present when more rows failed than are listed.' })),
});

export const EngagementSchema = Type.Object({
  email: Type.String(),
  sends: Type.Array(
    Type.Object({ campaign_id: Type.String(), campaign_name: Type.String(), sent_at: Type.String(), opened: Type.Boolean(), clicked: Type.Boolean() }),
  ),
  totals: Type.Object({ sends: Type.Integer(), opens: Type.Integer(), clicks: Type.Integer() }),
  score: Type.Union([Type.Literal('active'), Type.Literal('passive'), Type.Literal('dormant')], {
    description: 'active: opened or clicked within 30 days; passive: within 90; dormant: otherwise.',
  }),
  last_engagement_at: Type.Union([Type.String(), Type.Null()]),
});
