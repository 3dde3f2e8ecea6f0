import { sql } from 'kysely';
import type { Zone } from '../../../test/support/dns-server.ts';
import type { Harness } from '../../../test/support/harness.ts';

/** Recipient domains of the send tests, served by the loopback DNS server. */
export const SEND_ZONE: Zone = {
  'example.com': [{ type: 'MX', exchange: 'mx.example.com', priority: 10 }],
  'cliente.example': [{ type: 'MX', exchange: 'mx.cliente.example', priority: 10 }],
  'a-only.example': [{ type: 'A', address: '192.0.2.20' }],
  'null-mx.example': [{ type: 'MX', exchange: '.', priority: 0 }],
  'xn--bcher-kva.example': [{ type: 'MX', exchange: 'mx.example.com', priority: 10 }],
  'broken.example': 'servfail',
};

/** The seed's full curl example, as written. */
export const SEED_PAYLOAD = {
  personalizations: [{ to: [{ email: 'cliente@example.com', name: 'Cliente Ejemplo' }] }],
  from: { email: 'no-reply@tu-dominio.com', name: 'Tu Servicio' },
  subject: 'Confirma tu cuenta en Tu Servicio',
  content: [
    {
      type: 'text/html',
      value:
        '<p>Hola <strong>Cliente Ejemplo</strong>,</p><p>Haz clic <a href="https://tu-dominio.com/verify?token=abc123">aquí</a> para confirmar tu cuenta.</p><p>El enlace expira en 24 horas.</p>',
    },
    {
      type: 'text/plain',
      value: 'Hola Cliente Ejemplo,\n\nVisita el siguiente enlace para confirmar tu cuenta:\nhttps://tu-dominio.com/verify?token=abc123\n\nEl enlace expira en 24 horas.',
    },
  ],
};

export const clone = <T>(value: T): T => structuredClone(value);

/** Rows of every table a send writes, to show that a refused request changed nothing. */
export async function rowCounts(h: Harness): Promise<{ contents: number; messages: number; events: number; idem: number }> {
  const { rows } = await sql<{ contents: number; messages: number; events: number; idem: number }>`
    select (select count(*) from message_contents)::int as contents,
           (select count(*) from messages)::int as messages,
           (select count(*) from message_events)::int as events,
           (select count(*) from idempotency_keys)::int as idem`.execute(h.database.db);
  return { ...rows[0]! };
}
