import { Type, type Static } from 'typebox';

const ONE_LINE = '^[^\\r\\n]*$';
const closed = { additionalProperties: false } as const;

const Email = Type.String({ minLength: 1, maxLength: 320, description: 'An RFC 5321 address; internationalised domains are accepted.' });

export const Address = Type.Object(
  {
    email: Email,
    name: Type.Optional(Type.String({ maxLength: 256, pattern: ONE_LINE })),
  },
  closed,
);

const StringMap = (description: string) => Type.Record(Type.String(), Type.String({ pattern: ONE_LINE }), { description });

const Recipients = (description: string, minItems = 0) => Type.Array(Address, { minItems, maxItems: 1000, description });

export const Personalization = Type.Object(
  {
    to: Recipients('Recipients of this group; each gets a copy of their own, with all of `to` in its visible To header.', 1),
    cc: Type.Optional(Recipients('Each gets a copy of their own; shown in the visible Cc header.')),
    bcc: Type.Optional(Recipients('Each gets a copy of their own; never shown in any header.')),
    subject: Type.Optional(Type.String({ minLength: 1, maxLength: 998, pattern: ONE_LINE, description: 'Overrides the top-level subject.' })),
    headers: Type.Optional(StringMap('Extra headers for this group\'s copies.')),
    substitutions: Type.Optional(StringMap('Literal replacements in subject and bodies, e.g. {"-name-": "Ana"}.')),
    dynamic_template_data: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: 'Liquid variables: subject and bodies are rendered as Liquid templates with them.' }),
    ),
    custom_args: Type.Optional(StringMap('Kept with each message and sent back in its events.')),
    send_at: Type.Optional(Type.Integer({ minimum: 0, description: 'Unix seconds; overrides the top-level send_at. At most 72 h ahead.' })),
  },
  closed,
);

export const Content = Type.Object(
  {
    type: Type.String({ description: '"text/plain" or "text/html".' }),
    value: Type.String({ minLength: 1 }),
  },
  closed,
);

export const Attachment = Type.Object(
  {
    content: Type.String({ minLength: 1, description: 'Base64.' }),
    filename: Type.String({ minLength: 1, maxLength: 255, pattern: ONE_LINE }),
    type: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][\\w.+-]*/[\\w.+-]+$', description: 'MIME type, e.g. application/pdf.' })),
    disposition: Type.Optional(Type.Union([Type.Literal('attachment'), Type.Literal('inline')])),
    content_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: ONE_LINE, description: 'Required with disposition inline.' })),
  },
  closed,
);

const Toggle = Type.Object({ enable: Type.Boolean() }, closed);

export const SendBody = Type.Object(
  {
    personalizations: Type.Array(Personalization, { minItems: 1, maxItems: 1000 }),
    from: Address,
    reply_to: Type.Optional(Address),
    subject: Type.Optional(
      Type.String({ minLength: 1, maxLength: 998, pattern: ONE_LINE, description: 'Required unless every personalization has its own.' }),
    ),
    content: Type.Optional(Type.Array(Content, { minItems: 1, maxItems: 2, description: 'Required unless template_id is given.' })),
    template_id: Type.Optional(
      Type.String({ minLength: 1, maxLength: 100, description: 'A template of this key (GET /v1/bulk/templates): its subject and bodies, rendered as Liquid with dynamic_template_data.' }),
    ),
    headers: Type.Optional(StringMap('Extra headers for every copy.')),
    categories: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: 10, uniqueItems: true })),
    custom_args: Type.Optional(StringMap('Kept with each message; personalization custom_args add to them.')),
    send_at: Type.Optional(Type.Integer({ minimum: 0, description: 'Unix seconds: when to send (at most 72 h ahead; a past time sends now).' })),
    attachments: Type.Optional(Type.Array(Attachment, { maxItems: 100 })),
    mail_settings: Type.Optional(Type.Object({ sandbox_mode: Type.Optional(Toggle) }, closed)),
    tracking_settings: Type.Optional(Type.Object({ click_tracking: Type.Optional(Toggle), open_tracking: Type.Optional(Toggle) }, closed)),
  },
  {
    ...closed,
    description: 'SendGrid v3 mail/send. Fields not listed here (asm, batch_id, ip_pool_name, reply_to_list, ...) are refused with 400 unsupported_field.',
  },
);

export type SendBodyT = Static<typeof SendBody>;
export type AddressT = Static<typeof Address>;

export const SendHeaders = Type.Object({
  'x-md-channel': Type.Optional(Type.Union([Type.Literal('trans'), Type.Literal('bulk')], { description: 'trans (default) or bulk.' })),
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Retries with the same key within 24 h are answered the first response.' })),
});

export const Accepted = Type.Object({ message: Type.Literal('accepted'), app: Type.String({ description: 'The API key id.' }) });
export const SandboxAccepted = Type.Object({
  message: Type.Literal('validated'),
  app: Type.String(),
  sandbox: Type.Literal(true),
});
