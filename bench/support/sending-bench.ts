// What the benchmarks that send through the real workers into smtp-sink set up alike (bench:batch,
// bench:attachment): a fresh database of the engine, the sink, a DNS server giving example.org an MX,
// and the application on them.
import { startDnsServer } from '../../test/support/dns-server.ts';
import { createContext, createLogger } from '../../src/composition.ts';
import type { Config } from '../../src/config.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { campaignBenchConfig, openBenchEngine } from './campaign-seed.ts';
import { startSmtpSink } from './postfix.ts';

export interface SendingBench {
  database: Awaited<ReturnType<typeof openBenchEngine>>;
  sink: Awaited<ReturnType<typeof startSmtpSink>>;
  config: Config;
  logger: ReturnType<typeof createLogger>;
  context: ReturnType<typeof createContext>;
}

export async function withSendingBench(
  engine: string,
  run: (bench: SendingBench) => Promise<void>,
  extraConfig: Record<string, string> = {},
  contextOptions: Parameters<typeof createContext>[3] = {},
): Promise<void> {
  const database = await openBenchEngine(engine);
  const sink = await startSmtpSink();
  const dns = await startDnsServer({ 'example.org': [{ type: 'MX', exchange: 'mx.example.org', priority: 10 }] });
  try {
    await migrateToLatest(database.db);
    const config = campaignBenchConfig(sink.port, { MAILERDASH_DNS_SERVERS: dns.address, ...extraConfig });
    const logger = createLogger('silent');
    await run({ database, sink, config, logger, context: createContext(config, database, logger, contextOptions) });
  } finally {
    sink.child.kill();
    await dns.close();
    await database.close();
    await database.drop();
  }
}
