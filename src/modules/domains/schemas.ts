import { Type } from 'typebox';

export const DomainName = Type.String({
  minLength: 3,
  maxLength: 253,
  pattern: '^(?=.{3,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]$',
  examples: ['example.com'],
});

export const DnsRecord = Type.Object({
  purpose: Type.Union([Type.Literal('spf'), Type.Literal('dkim'), Type.Literal('dmarc'), Type.Literal('return_path')]),
  type: Type.Union([Type.Literal('TXT'), Type.Literal('CNAME')]),
  name: Type.String(),
  value: Type.String(),
  required: Type.Boolean({ description: 'Whether the domain counts as verified only with this record in place.' }),
  status: Type.Union([Type.Literal('unchecked'), Type.Literal('verified'), Type.Literal('missing'), Type.Literal('mismatch'), Type.Literal('unreachable')]),
});

export const Domain = Type.Object({
  domain: Type.String(),
  key_id: Type.String(),
  verified: Type.Boolean(),
  verified_by: Type.Union([Type.Literal('dns'), Type.Literal('operator'), Type.Null()]),
  verified_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  records: Type.Array(DnsRecord),
});
