import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BounceReason, ClassKind } from '../../src/modules/addresses/classify.ts';
import { interpretReport } from '../../src/modules/inbound/interpret.ts';
import { parseReport } from '../../src/modules/inbound/parse.ts';

/**
 * The labelled bounce corpus (test/fixtures/bounces, from sisimai's test suite) and how its labels
 * map onto our classification: sisimai's hard-bounce flag is our hard/soft line, its reasons fold
 * into ours, `vacation` is an auto-reply, `feedback` a complaint, `delivered` a success DSN.
 */

export const CORPUS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/bounces');

interface Label {
  file: string;
  engine: string;
  status: string;
  reason: string;
  hardbounce: boolean;
}

const REASON_OF: Record<string, BounceReason> = {
  userunknown: 'mailbox_unknown',
  hasmoved: 'mailbox_unknown',
  hostunknown: 'domain_not_found',
  notaccept: 'domain_not_found',
  suspend: 'mailbox_disabled',
  mailboxfull: 'mailbox_full',
  exceedlimit: 'too_large',
  mesgtoobig: 'too_large',
  spamdetected: 'spam_content',
  virusdetected: 'spam_content',
  contenterror: 'spam_content',
  toomanyconn: 'rate_limited',
  speeding: 'rate_limited',
  ratelimited: 'rate_limited',
  expired: 'expired',
  filtered: 'policy_blocked',
  rejected: 'policy_blocked',
  blocked: 'policy_blocked',
  policyviolation: 'policy_blocked',
  securityerror: 'policy_blocked',
  authfailure: 'policy_blocked',
  requireptr: 'policy_blocked',
  norelaying: 'policy_blocked',
  notcompliantrfc: 'policy_blocked',
  badreputation: 'policy_blocked',
};

export interface Expected {
  kind: ClassKind;
  /** null: the label names no reason of ours (system error, network error, undefined…); any reason agrees. */
  reason: BounceReason | null;
}

export function expectedOf(label: Label): Expected {
  if (label.reason === 'vacation') return { kind: 'auto_reply', reason: null };
  if (label.reason === 'feedback') return { kind: 'complaint', reason: null };
  if (label.reason === 'delivered') return { kind: 'delivered', reason: null };
  return { kind: label.hardbounce ? 'hard_bounce' : 'soft_bounce', reason: REASON_OF[label.reason] ?? null };
}

export interface CorpusResult {
  total: number;
  engines: number;
  kindAgree: number;
  reasonAgree: number;
  /** Agreement on the one decision that suppresses at once: hard bounce or not. */
  hardAgree: number;
  /** Labelled hard and called hard / labelled hard; called hard but labelled otherwise. */
  hardFound: number;
  hardLabelled: number;
  falseHard: number;
  /** Mails whose label names a reason of ours. */
  reasonLabelled: number;
  /** Mails a suppression decision depends on: labelled hard, and what we called hard. */
  misses: Array<{ file: string; expected: Expected; got: { kind: ClassKind; reason: BounceReason | null } }>;
}

export function runCorpus(): CorpusResult {
  const { labels } = JSON.parse(readFileSync(path.join(CORPUS_DIR, 'labels.json'), 'utf8')) as { labels: Label[] };
  const result: CorpusResult = { total: 0, engines: new Set(labels.map((l) => l.engine)).size, kindAgree: 0, reasonAgree: 0, reasonLabelled: 0, hardAgree: 0, hardFound: 0, hardLabelled: 0, falseHard: 0, misses: [] };
  for (const label of labels) {
    const expected = expectedOf(label);
    const finding = interpretReport(parseReport(readFileSync(path.join(CORPUS_DIR, label.file)))).findings[0];
    const got = { kind: finding?.kind ?? 'unknown', reason: finding?.reason ?? null };
    result.total++;
    const kindOk = got.kind === expected.kind;
    if (kindOk) result.kindAgree++;
    const [labelledHard, calledHard] = [expected.kind === 'hard_bounce', got.kind === 'hard_bounce'];
    if (labelledHard === calledHard) result.hardAgree++;
    if (labelledHard) result.hardLabelled++;
    if (labelledHard && calledHard) result.hardFound++;
    if (calledHard && !labelledHard) result.falseHard++;
    if (expected.reason) {
      result.reasonLabelled++;
      if (got.reason === expected.reason) result.reasonAgree++;
    }
    if (!kindOk || (expected.reason && got.reason !== expected.reason)) result.misses.push({ file: label.file, expected, got });
  }
  return result;
}
