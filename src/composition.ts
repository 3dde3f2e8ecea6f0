import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { createMetricsRegistry } from './http/metrics.ts';
import { createResolver } from './lib/dns.ts';
import { createMxChecker } from './lib/mx-checker.ts';
import { campaignEngagement } from './modules/campaigns/engagement.ts';
import { createCampaignsService, type CampaignsService } from './modules/campaigns/service.ts';
import { createContactsService, type ContactsService } from './modules/contacts/service.ts';
import { createDomainsService, type DomainsService } from './modules/domains/service.ts';
import { createIdempotencyService, type IdempotencyService } from './modules/idempotency/service.ts';
import { createKeysService, type KeysService } from './modules/keys/service.ts';
import { createListsService, type ListsService } from './modules/lists/service.ts';
import { createMessagesService, type MessagesService } from './modules/messages/service.ts';
import { createSendService, type SendService } from './modules/send/service.ts';
import { createSequencesService, type SequencesService } from './modules/sequences/service.ts';
import { createSubmissionService, type SubmissionService } from './modules/submission/service.ts';
import { createSuppressionsService, type SuppressionsService } from './modules/suppressions/service.ts';
import { createTemplatesService, type TemplatesService } from './modules/templates/service.ts';
import { createLinkSigner, type LinkSigner } from './modules/tracking/links.ts';
import { createTrackingService, type TrackingService } from './modules/tracking/service.ts';
import { createSealedBox, type SealedBox } from './lib/sealed-box.ts';
import { createOutboundGuard } from './lib/ssrf.ts';
import { createWebhooksService, type WebhooksService } from './modules/webhooks/service.ts';
import { createProvidersService, operatorEventSources, type ProvidersService } from './modules/providers/service.ts';
import { createProviderEventsService, type ProviderEventsService } from './modules/provider-events/service.ts';
import type { ApplyFeedback } from './modules/provider-events/feedback.ts';
import { DomainError } from './errors.ts';
import { createWebhookSender } from './modules/webhooks/sender.ts';
import { installWebhookMetrics } from './modules/webhooks/metrics.ts';
import { loadLinkSecret } from './modules/tracking/links.ts';
import { createCampaignDispatcher } from './workers/campaign-dispatcher.ts';
import { chunkConcurrencyFor, createSequenceScheduler } from './workers/sequence-scheduler.ts';
import { createWebhookDeliveryJob } from './workers/webhook-delivery.ts';
import { createDeliveryJob, handOffFromConfig, providerConfigsOf, providersFromConfig } from './workers/delivery.ts';
// Operator experience (issue 15): delivery logs and metrics, /v1/status.
import { createDeliveryObserver } from './delivery/observer.ts';
import { installQueueMetrics } from './modules/status/metrics.ts';
import { createStatusService, type StatusService } from './modules/status/service.ts';
import { isLocalUrl } from './lib/host-names.ts';
import { withKeyProviders } from './delivery/key-providers.ts';
// Batches (issue 12)
import { createBatchesService, type BatchesService } from './modules/batches/service.ts';
import { createBatchRouter } from './modules/batches/router.ts';
import { createBatchMonitor } from './workers/batch-monitor.ts';
import { createBatchDispatcher } from './workers/batch-dispatcher.ts';
import { createAuditService, type AuditService } from './modules/audit/repo.ts';
import { createPrivacyService, type PrivacyService } from './modules/privacy/service.ts';
import { createErasedAddressHasher, type ErasedAddressHasher } from './modules/suppressions/erased.ts';
import type { Job } from './workers/runner.ts';
import { createUiSessions, type UiSessions } from './modules/ui/session.ts';
import { createStatsService, type StatsService } from './modules/stats/service.ts';
import { createRetentionJob } from './workers/retention.ts';
import { applyFeedback } from './modules/addresses/feedback.ts';
// Inbound feedback loop.
import { createInboundListener, readTlsFiles, type InboundListener } from './modules/inbound/listener.ts';
import { createInboundService, type InboundService } from './modules/inbound/service.ts';
import { createInboundReportsJob } from './workers/inbound-reports.ts';
// Import jobs (issue 15).
import { createImportJobsService, type ImportJobsService } from './modules/imports/service.ts';
import { createContactImportJob } from './workers/contact-import.ts';

/**
 * The composition root: the one place where every service is built and handed its dependencies.
 * The API and the workers are built from the same context, so one process or many is a deployment choice.
 */
export interface Services {
  keys: KeysService;
  domains: DomainsService;
  suppressions: SuppressionsService;
  /** Signed unsubscribe and tracking links (the delivery pipeline's MessageLinks). */
  links: LinkSigner;
  tracking: TrackingService;
  idempotency: IdempotencyService;
  send: SendService;
  messages: MessagesService;
  contacts: ContactsService;
  /** Imports run as background jobs (POST /v1/bulk/contacts/import?async=true). */
  imports: ImportJobsService;
  lists: ListsService;
  templates: TemplatesService;
  campaigns: CampaignsService;
  sequences: SequencesService;
  webhooks: WebhooksService;
  /** The SMTP submission relay's decisions (its listener is started by server.ts). */
  submission: SubmissionService;
  /** The operator's view of inbound mail (GET /v1/inbound). */
  inbound: InboundService;
  batches: BatchesService;
  audit: AuditService;
  /** Per-key email service providers (SES, SendGrid, Mailgun, Postmark). */
  providers: ProvidersService;
  /** The providers' event webhooks (/v1/events/{type}/{provider}). */
  providerEvents: ProviderEventsService;
  /** GET /v1/status and the setup checks printed at start. */
  status: StatusService;
  /** The dashboard at /ui: its sessions and where its build is (read by the API at start). */
  dashboard: { sessions: UiSessions; assetsDir: string };
  /** Statistics from the aggregates (GET /v1/stats, batch and sequence stats). */
  stats: StatsService;
  /** Erasure and export of an address (/v1/privacy). */
  privacy: PrivacyService;
}

export interface AppContext {
  config: Config;
  database: Database;
  logger: Logger;
  metrics: Registry;
  services: Services;
  /** Background jobs, each claiming its own kind of due rows. */
  jobs: Job[];
  /** Seals and opens webhook signing secrets (the delivery job's, and tests'). */
  webhookSecrets: SealedBox;
  /** The keyed hashes of erased addresses (for workers a caller builds itself, e.g. the benchmarks). */
  erasedAddresses: ErasedAddressHasher;
  /** Registers a listener called whenever the API committed new queued messages (e.g. runner.wake). */
  onQueued(listener: () => void): void;
  /** The inbound SMTP listener (not yet listening): `mailerdash start` and `mailerdash inbound` start it. */
  createInboundListener(): InboundListener;
}

export function createLogger(level: string): Logger {
  return pino({ level, redact: ['req.headers.authorization', '*.secret', '*.key', '*.password'] });
}

/** `unsigned`: every message goes out without DKIM, whatever its domain (benchmarks compared with the unsigned campaign benchmark). */
export function createContext(config: Config, database: Database, logger: Logger = createLogger(config.logLevel), options: { applyFeedback?: ApplyFeedback; unsigned?: boolean } = {}): AppContext {
  const { db } = database;
  const resolver = createResolver(config.dnsServers);
  // Stored secrets (webhook signing secrets, DKIM private keys) are sealed under keys derived from the
  // server secret (the links' secret), each purpose with its own key.
  const serverSecret = (() => {
    let loading: Promise<string> | null = null;
    return () => (loading ??= loadLinkSecret(db, config.secret).catch((error) => ((loading = null), Promise.reject(error))));
  })();
  const webhookSecrets = createSealedBox(serverSecret, 'webhook-signing-secrets');
  // Erased addresses stay suppressed as hashes under a per-key salt derived from the same secret.
  const erased = createErasedAddressHasher(serverSecret);
  const domains = createDomainsService({
    secrets: createSealedBox(serverSecret, 'dkim-private-keys'),
    db,
    resolver,
    dkimSelector: config.dkimSelector,
    sendingHost: config.hostname,
    bounceDomain: config.bounceDomain,
  });
  const keys = createKeysService({ db, prepareDomains: (names) => domains.prepareOperatorVerified(names) });
  const suppressions = createSuppressionsService({ db, erased });
  const links = createLinkSigner({ db, publicUrl: config.publicUrl, bounceDomain: config.bounceDomain, secret: config.secret });
  const tracking = createTrackingService({ db, links });
  const queuedListeners = new Set<() => void>();
  const onQueued = (listener: () => void) => void queuedListeners.add(listener);
  /** Wakes every waiting worker loop: new work was committed. */
  const notifyQueued = () => queuedListeners.forEach((listener) => listener());
  const idempotency = createIdempotencyService({ db });
  const messages = createMessagesService({ db });
  const templates = createTemplatesService({ db });
  const mx = createMxChecker({ resolver });
  const send = createSendService({
    db,
    domains,
    templates,
    mx,
    onQueued: notifyQueued,
  });
  const contacts = createContactsService({ db, engine: database.engine, pool: database.pool, engagement: campaignEngagement });
  const imports = createImportJobsService({ db, onQueued: notifyQueued });
  const lists = createListsService({ db });
  const campaigns = createCampaignsService({
    db,
    isFromAllowed: domains.isFromAllowed,
    onQueued: notifyQueued,
    localLinksUrl: isLocalUrl(config.publicUrl) ? config.publicUrl : null,
  });
  const sequences = createSequencesService({ db, isFromAllowed: domains.isFromAllowed, erased });
  const guard = createOutboundGuard({ allowHosts: config.webhookAllowHosts, resolver: config.dnsServers.length ? resolver : undefined });
  const webhooks = createWebhooksService({ db, guard, secrets: webhookSecrets, onDue: notifyQueued });
  const submission = createSubmissionService({
    db,
    keys,
    domains,
    mx,
    ratePerMinute: config.submissionRate,
    onQueued: notifyQueued,
  });
  const inbound = createInboundService({ db });
  const providers = createProvidersService({ db, guard, secrets: createSealedBox(serverSecret, 'provider-credentials') });
  // Batches: named providers (MAILERDASH_PROVIDERS, and each key's own from /v1/providers), routed per batch policy.
  const providerRegistry = withKeyProviders(providersFromConfig(config), (keyId, name) => providers.openedByName(keyId, name));
  const batches = createBatchesService({
    db,
    mx: createMxChecker({ resolver }),
    idempotency,
    domains,
    templates,
    providerNames: async (keyId) => [...new Set([...providerRegistry.names, ...(await providers.namesOf(keyId))])],
    erased,
    onQueued: notifyQueued,
  });
  // Provider events take the one feedback path of every other report (src/modules/addresses).
  const feedbackRules = { softBounceLimit: config.softBounceLimit, softBounceWindowDays: config.softBounceWindowDays };
  // Event posts name an operator provider (MAILERDASH_PROVIDERS) by its name, a key's by its id.
  const operatorSource = operatorEventSources(config.providers);
  const providerEvents = createProviderEventsService({
    db,
    providers: { forEvents: async (id) => operatorSource(id) ?? providers.forEvents(id) },
    applyFeedback: options.applyFeedback ?? ((trx, reports, now) => applyFeedback(trx, reports, now, feedbackRules)),
    snsUrlPattern: config.snsUrlPattern,
  });
  const status = createStatusService({ db, resolver, settings: config, providers: providerConfigsOf(config) });
  const services: Services = { keys, domains, suppressions, links, tracking, idempotency, send, messages, contacts, imports, lists, templates, campaigns, sequences, webhooks, submission, inbound, batches, audit: createAuditService({ db }), providers, providerEvents, stats: createStatsService({ db }), privacy: createPrivacyService({ db, erased }), status,
    dashboard: { sessions: createUiSessions({ keys, box: createSealedBox(serverSecret, 'ui-sessions'), ttlMs: config.uiSessionMs }), assetsDir: config.uiDir } };
  const metrics = createMetricsRegistry();
  installQueueMetrics(metrics, db, database.pool);
  const jobs: Job[] = [idempotency.expiryJob(), sealingJob(domains)];
  // The campaign and batch dispatchers and the sequence scheduler create their messages already claimed by this process's sender.
  const handOff = handOffFromConfig(config);
  jobs.push(createCampaignDispatcher({ db, logger, handOff, erased, onQueued: notifyQueued }));
  jobs.push(createSequenceScheduler({ db, logger, handOff, onQueued: notifyQueued, concurrency: chunkConcurrencyFor(database.engine) }));
  jobs.push(createBatchDispatcher({ db, logger, handOff, onQueued: notifyQueued }));
  jobs.push(createDeliveryJob({ config, db, logger, signingKeyFor: options.unsigned ? async () => null : domains.signingKeyFor, links, handOff, erased, providers: providerRegistry, router: createBatchRouter({ db, defaultProvider: providerRegistry.defaultName }), observer: createDeliveryObserver(metrics, logger) }));
  jobs.push(createBatchMonitor({ db, logger, onQueued: notifyQueued }));
  jobs.push(createContactImportJob({ db, engine: database.engine, pool: database.pool, logger }));
  const webhookMetrics = installWebhookMetrics(metrics, db);
  jobs.push(
    createWebhookDeliveryJob({
      db,
      logger,
      secrets: webhookSecrets,
      sender: createWebhookSender({ guard, connectionsPerOrigin: config.webhookConcurrency }),
      concurrency: config.webhookConcurrency,
      onAttempt: webhookMetrics.countAttempt,
    }),
  );
  const inboundDeps = {
    verify: (purpose: 'bounce' | 'unsubscribe', token: string) => links.verify(purpose, token),
    hostname: config.hostname,
    bounceDomain: config.bounceDomain,
    fblAddress: config.fblAddress,
  };
  // ready: the token checks run inside the job's transaction, where PGlite cannot load the secret.
  jobs.push(createInboundReportsJob({ db, logger, ...inboundDeps, ready: () => links.ready(), rules: { softBounceLimit: config.softBounceLimit, softBounceWindowDays: config.softBounceWindowDays } }));
  jobs.push(createRetentionJob({ db, logger, retentionDays: config.retentionDays, contentRetentionDays: config.contentRetentionDays, batchSize: config.retentionBatch }));
  const createInbound = () =>
    createInboundListener({
      db,
      logger,
      ...inboundDeps,
      maxBytes: config.inboundMaxBytes,
      maxClients: config.inboundMaxClients,
      ratePerMinute: config.inboundRatePerMinute,
      tls: readTlsFiles(config.inboundTlsCert, config.inboundTlsKey),
      onStored: notifyQueued,
    });
  return { config, database, logger, metrics, services, jobs, webhookSecrets, erasedAddresses: erased, onQueued, createInboundListener: createInbound };
}

/** Seals the DKIM keys stored before keys were sealed, a batch a round, then stops looking. */
function sealingJob(domains: DomainsService): Job {
  let done = false;
  return {
    name: 'seal-dkim-keys',
    async runOnce() {
      if (done) return 0;
      const sealed = await domains.sealStoredKeys();
      done = sealed === 0;
      return sealed;
    },
  };
}
