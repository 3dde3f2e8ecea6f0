import { isFullyQualified, isLocalUrl } from '../../lib/host-names.ts';

/** The settings that hurt real mail, named with how to fix each. Pure: the caller gathers the facts. */

export interface SetupCheck {
  code: 'localhost_public_url' | 'hostname_not_fqdn' | 'outbox_mode' | 'bounce_domain_without_mx';
  /** The variable to change. */
  variable: string;
  /** warning: will hurt once mail goes out; error: hurting mail being sent now. */
  severity: 'warning' | 'error';
  message: string;
  fix: string;
}

export interface SetupFacts {
  publicUrl: string;
  hostname: string;
  bounceDomain: string;
  /** The default provider writes .eml files (no relay), and whether the operator chose that by name. */
  outbox: 'none' | 'chosen' | 'fallback';
  /** Campaigns are being sent now (links in them go out). */
  bulkSending: boolean;
  /** MX records of the bounce domain: found, none, or unknown (the lookup failed or was not made). */
  bounceMx: 'found' | 'none' | 'unknown';
}

export function setupChecks(facts: SetupFacts): SetupCheck[] {
  const checks: SetupCheck[] = [];
  if (isLocalUrl(facts.publicUrl)) {
    checks.push({
      code: 'localhost_public_url',
      variable: 'MAILERDASH_PUBLIC_URL',
      severity: facts.bulkSending ? 'error' : 'warning',
      message: `unsubscribe and tracking links point at ${facts.publicUrl}, which recipients cannot reach${facts.bulkSending ? ', and campaigns are being sent with them now' : ''}`,
      fix: 'set MAILERDASH_PUBLIC_URL to the public https:// address of this server',
    });
  }
  if (!isFullyQualified(facts.hostname)) {
    checks.push({
      code: 'hostname_not_fqdn',
      variable: 'MAILERDASH_HOSTNAME',
      severity: 'warning',
      message: `the host name "${facts.hostname}" is not a fully qualified domain name: receivers distrust its EHLO and Message-IDs, and no SPF record can name it`,
      fix: 'set MAILERDASH_HOSTNAME to the public DNS name of this server (e.g. mail.example.com), whose A record points here',
    });
  }
  if (facts.outbox === 'fallback') {
    checks.push({
      code: 'outbox_mode',
      variable: 'MAILERDASH_SMTP_URL',
      severity: 'warning',
      message: 'no relay is configured: every message is written as an .eml file under the data directory\'s outbox and none reaches a recipient',
      fix: 'set MAILERDASH_SMTP_URL (smtp://user:pass@relay:587) or MAILERDASH_PROVIDERS; name an outbox provider there to keep the outbox on purpose',
    });
  }
  if (facts.bounceMx === 'none') {
    checks.push({
      code: 'bounce_domain_without_mx',
      variable: 'MAILERDASH_BOUNCE_DOMAIN',
      severity: 'warning',
      message: `the bounce domain ${facts.bounceDomain} has no MX record: bounces and complaints cannot come back, so bad addresses are never suppressed`,
      fix: `publish an MX record for ${facts.bounceDomain} pointing at this server's inbound listener (MAILERDASH_INBOUND_PORT, 25 in production), or set MAILERDASH_BOUNCE_DOMAIN to a domain that has one`,
    });
  }
  return checks;
}
