import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { progressAfter } from './progress-repo.ts';

/** How often an open stream looks for new progress rows (they are written at most once a second). */
const POLL_MS = 200;
/** A comment line now and then keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

/**
 * Writes the batch's progress rows after `afterSeq` as Server-Sent Events (id = the row's number,
 * so Last-Event-ID resumes exactly), then waits for more; ends after batch.completed or when the
 * client goes away.
 */
export async function streamProgress(db: Kysely<DB>, batchId: string, afterSeq: number, res: ServerResponse, req: IncomingMessage): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write('retry: 1000\n\n');
  let closed = false;
  req.on('close', () => (closed = true));
  let seq = afterSeq;
  let lastWrite = Date.now();
  try {
    while (!closed) {
      const rows = await progressAfter(db, batchId, seq);
      for (const row of rows) {
        const data = typeof row.data === 'string' ? row.data : JSON.stringify(row.data);
        res.write(`id: ${row.seq}\nevent: ${row.type}\ndata: ${JSON.stringify({ type: row.type, timestamp: new Date(row.at).toISOString(), data: JSON.parse(data) })}\n\n`);
        seq = row.seq;
        lastWrite = Date.now();
        if (row.type === 'batch.completed') return;
      }
      if (rows.length) continue;
      if (Date.now() - lastWrite > KEEPALIVE_MS) {
        res.write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    res.end();
  }
}
