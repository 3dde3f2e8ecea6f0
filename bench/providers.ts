// Benchmark (not a test): each email service provider transport, as an operator provider (MAILERDASH_PROVIDERS)
// is made and driven by the send job (one send() per message; batch endpoints gathered), with its real client
// library against its loopback fake (test/support/providers/), which speaks the provider's wire format and checks
// its auth (SigV4 recomputed for SES). For each provider and workload it prints msg/s, the provider calls
// made per 1,000 messages, and a ceiling measured in the same run: one of the requests the client sent,
// replayed byte for byte by a bare undici Pool with the same number of requests in flight, as calls/s times
// the messages that request carried. The gap is what the client library, taking our MIME apart
// (mailparser) and building the provider's request cost.
// Workloads: "own" = every message has its own links (the usual campaign with tracking); "shared" = equal
// content apart from per-recipient headers (List-Unsubscribe), which SendGrid and Mailgun batch.
//   npm run bench:providers   (BENCH_MESSAGES, default 3000)
import os from 'node:os';
import { Pool } from 'undici';
import type { ReceivedRequest } from '../test/support/providers/fake-http.ts';
import { providerMessage } from '../test/support/providers/messages.ts';
import { startMailgunFake } from '../test/support/providers/mailgun-server.ts';
import { startPostmarkFake } from '../test/support/providers/postmark-server.ts';
import { startSendgridFake } from '../test/support/providers/sendgrid-server.ts';
import { startSesFake } from '../test/support/providers/ses-server.ts';
import { isCoalescing } from '../src/delivery/batching.ts';
import { CALLS_IN_FLIGHT, mapLimited } from '../src/delivery/esp/results.ts';
import { createProviderSet, type ProviderConfig } from '../src/delivery/providers.ts';
import type { OutgoingMessage, Transport } from '../src/delivery/transport.ts';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 3000);
/** Messages in flight for send()-only transports (SES), as the send job's bulk concurrency would be. */
const SEND_CONCURRENCY = 16;
/** Messages one send job keeps waiting on a gathering provider (MAX_GATHERED in src/workers/send-job.ts). */
const GATHERED = 1000;
/** Batch calls in flight at once for a gathering provider (its gatherings of up to 1,000, each split by the provider's limit). */
const BATCHES_IN_FLIGHT = 1;
const BATCH = 1000;

interface Fake {
  url: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

// As the send job drives a provider: send() per message; a provider with a batch endpoint gathers
// them into its calls (src/delivery/batching.ts), with up to GATHERED messages waiting on it.
async function drive(transport: Transport, messages: OutgoingMessage[]): Promise<{ seconds: number; accepted: number; failure?: string }> {
  const started = process.hrtime.bigint();
  const results = await mapLimited(messages, isCoalescing(transport) ? GATHERED : SEND_CONCURRENCY, (m) => transport.send(m));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, accepted: results.filter((r) => r.outcome === 'accepted').length, failure: results.find((r) => r.outcome !== 'accepted')?.reply };
}

/** Replays `request` `calls` times with `inFlight` at once through a bare undici Pool: calls per second. */
async function replayCeiling(url: string, request: ReceivedRequest, calls: number, inFlight: number): Promise<number> {
  const pool = new Pool(url, { connections: inFlight, pipelining: 1 });
  const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => !['host', 'connection', 'content-length', 'transfer-encoding'].includes(name)).map(([k, v]) => [k, String(v)]));
  const path = request.path + (request.query.size ? `?${request.query}` : '');
  const started = process.hrtime.bigint();
  let failed = 0;
  await mapLimited(Array.from({ length: calls }, (_, i) => i), inFlight, async () => {
    const answer = await pool.request({ method: request.method as 'POST', path, headers, body: request.body });
    await answer.body.dump();
    if (answer.statusCode >= 300) failed++;
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await pool.close();
  if (failed) throw new Error(`${failed} replayed requests were refused`);
  return calls / seconds;
}

interface Row {
  provider: string;
  workload: 'own' | 'shared';
  calls: number;
  msgPerSecond: number;
  ceiling: number;
}

async function measure(provider: string, workload: 'own' | 'shared', fake: Fake, config: Record<string, unknown>, messagesPerReplayedCall: (calls: number) => number): Promise<Row> {
  const transport = createProviderSet({ [provider]: config as ProviderConfig }, provider, { hostname: 'mta.test', dataDir: os.tmpdir(), smtpConnections: 1 }).get(provider);
  const messages = Array.from({ length: MESSAGES }, (_, i) => providerMessage(`msg_${workload}_${i}`, `r${i}@example.test`, { shared: workload === 'shared' }));
  // Warm the client (connections, lazy imports) outside the measurement.
  await (transport.sendBatch ? transport.sendBatch(messages.slice(0, 2)) : transport.send(messages[0]!));
  fake.requests.length = 0;
  const { seconds, accepted, failure } = await drive(transport, messages);
  if (accepted !== MESSAGES) throw new Error(`${provider} ${workload}: ${accepted} of ${MESSAGES} accepted (${failure})`);

  const calls = fake.requests.length;
  const largest = fake.requests.reduce((a, b) => (b.body.length > a.body.length ? b : a));
  // As many requests in flight as the transport had: SES's send concurrency, or each batch's calls in flight.
  const inFlight = !transport.sendBatch ? SEND_CONCURRENCY : Math.min(calls, BATCHES_IN_FLIGHT * Math.min(CALLS_IN_FLIGHT, Math.ceil(calls / Math.ceil(MESSAGES / BATCH))));
  const callsPerSecond = await replayCeiling(fake.url, largest, Math.max(20, Math.min(calls, 2000)), inFlight);
  fake.requests.length = 0;
  await transport.close();
  return { provider, workload, calls, msgPerSecond: accepted / seconds, ceiling: callsPerSecond * messagesPerReplayedCall(calls) };
}

const AWS = { key: 'AKIAIOSFODNN7EXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const rows: Row[] = [];
const perCall = (calls: number) => Math.ceil(MESSAGES / calls);

const ses = await startSesFake({ region: 'eu-west-1', credentials: { [AWS.key]: AWS.secret }, record: true });
const sesConfig = { type: 'ses', region: 'eu-west-1', access_key_id: AWS.key, secret_access_key: AWS.secret, base_url: ses.url };
rows.push(await measure('ses', 'own', ses, sesConfig, () => 1));
ses.sent.length = 0;
await ses.close();

const postmark = await startPostmarkFake({ tokens: new Set(['pm-token']), record: true });
rows.push(await measure('postmark', 'own', postmark, { type: 'postmark', server_token: 'pm-token', base_url: postmark.url }, perCall));
postmark.sent.length = 0;
await postmark.close();

const sendgrid = await startSendgridFake({ keys: new Set(['SG.key']), record: true });
for (const workload of ['own', 'shared'] as const) {
  rows.push(await measure('sendgrid', workload, sendgrid, { type: 'sendgrid', api_key: 'SG.key', base_url: sendgrid.url }, workload === 'own' ? () => 1 : perCall));
  sendgrid.accepted.length = 0;
}
await sendgrid.close();

const mailgun = await startMailgunFake({ keys: new Set(['key-mg']), domains: new Set(['mg.example.test']), record: true });
for (const workload of ['own', 'shared'] as const) {
  rows.push(await measure('mailgun', workload, mailgun, { type: 'mailgun', api_key: 'key-mg', domain: 'mg.example.test', base_url: mailgun.url }, workload === 'own' ? () => 1 : perCall));
  mailgun.deliveries.length = 0;
}
await mailgun.close();

console.log(`bench:providers — ${MESSAGES} messages per row; ${os.cpus().length} × ${os.cpus()[0]?.model}, Node ${process.version}; load average ${os.loadavg()[0]!.toFixed(1)}`);
console.log('provider  workload  calls/1000 msg   msg/s    ceiling msg/s  ratio');
for (const row of rows) {
  console.log(
    `${row.provider.padEnd(9)} ${row.workload.padEnd(9)} ${String(Math.round((row.calls / MESSAGES) * 1000)).padStart(8)}     ${row.msgPerSecond.toFixed(0).padStart(7)}  ${row.ceiling.toFixed(0).padStart(13)}  ${(row.msgPerSecond / row.ceiling).toFixed(2)}`,
  );
}
console.log('ceiling: the largest request the client sent, replayed by a bare undici Pool with the same requests in flight, × messages it carried');
