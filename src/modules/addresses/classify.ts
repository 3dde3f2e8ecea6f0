/**
 * The bounce classifier: pure, one module for every way feedback arrives (a synchronous reply, a
 * DSN, a bounce in prose, an ARF report, a provider's event text). From an enhanced status code,
 * the remote server's words and a few markers of the mail it decides what happened and why.
 */

export type ClassKind = 'hard_bounce' | 'soft_bounce' | 'complaint' | 'auto_reply' | 'challenge_response' | 'delivered' | 'delayed' | 'unknown';

export type BounceReason =
  | 'mailbox_unknown'
  | 'mailbox_full'
  | 'mailbox_disabled'
  | 'domain_not_found'
  | 'policy_blocked'
  | 'spam_content'
  | 'too_large'
  | 'rate_limited'
  | 'expired'
  | 'other';

export interface Classification {
  kind: ClassKind;
  reason: BounceReason | null;
}

export interface Signals {
  /** DSN Action: failed, delayed, delivered, relayed, expanded. */
  action?: string | null;
  /** Enhanced status code (5.1.1) or a bare reply code (550). */
  status?: string | null;
  /** The remote server's words (Diagnostic-Code, or a synchronous reply). */
  diagnostic?: string | null;
  /** The human-readable text of a bounce without a usable diagnostic. */
  text?: string | null;
  subject?: string | null;
  /** ARF Feedback-Type, when the mail is a feedback report. */
  feedbackType?: string | null;
  /** The mail carries auto-reply markers (Auto-Submitted: auto-replied, X-Autoreply, Precedence: auto_reply…). */
  autoReplyHeaders?: boolean;
  /** The mail is a bounce by its form (a DSN, from MAILER-DAEMON, a bounce subject). */
  bounceForm?: boolean;
}

// Ordered: the first rule whose words match names the reason. Blocklists come before spam because
// their names say "spam" (Spamhaus, SpamCop) while the cause is the sender's reputation. These are
// specific: they win over the status code, which is often generic (5.0.0, 5.7.1 for everything).
const SPECIFIC_RULES: Array<[BounceReason, RegExp]> = [
  // About the sender, not the recipient: whatever else the words say, the address is not at fault.
  ['policy_blocked', /sender (?:address )?rejected|domain of sender address|sender address .{0,60}does not exist|not allowed to send|sender domain|\bspf\b|dmarc|authentication checks|reverse dns|open relay|cannot send e-?mail to yourself|unauthenticated|\bdkim\b/i],
  ['too_large', /message (?:size )?(?:is )?too (?:large|big)|message size (?:exceeds|is larger)|size (?:exceeds|limit)|exceeds? (?:the )?(?:maximum|max(?:imum)?|fixed maximum) (?:allowed )?(?:message )?size|message length exceeds|mail size|too large|message is larger than/i],
  ['domain_not_found', /host (?:or domain name )?not found|domain (?:name )?(?:not found|does not exist|is invalid|unknown|not exist|is not reachable)|no such domain|unrouteable (?:mail )?domain|name service error|host unknown|unknown host|nxdomain|no mx (?:record|host)|mx (?:record )?(?:lookup failed|not found)|unresolvable|non-existent (?:hosts?|domain)|does not accept (?:e-?)?mail|null mx|no route to host|host not found|domain.{0,20}isn't in my list|unknown domain|invalid domain|dns (?:error|failure|lookup)|no smtp service|illegal host\/domain|host\/domain name/i],
  ['mailbox_full', /mail ?box (?:is )?(?:full|over ?quota)|over ?quota|quota (?:exceeded|exceed|full|violation)|exceeded (?:(?:his|her|the|their) )?(?:storage|quota)|insufficient (?:disk |system )?(?:space|storage)|(?:user|recipient|mailbox)(?:'s)? (?:storage|quota)|full mailbox|out of storage|disk quota|mailbox has exceeded|mailfolder is full|is over (?:the )?(?:quota|limit)|inbox is full|user is over|exceeds? (?:his|her|their) (?:storage|mailbox)/i],
  ['mailbox_unknown', /user unknown|unknown user|no such (?:user|recipient|mailbox|address|account|person|local user)|(?:user|recipient|mailbox|address|account|addressee) (?:does not|doesn'?t|did not) exist|does not exist|invalid (?:recipient|mailbox|address|user|final delivery userid)|unknown (?:recipient|address|mailbox|local[- ]part|e-?mail)|recipient (?:not found|unknown|address rejected: (?:user unknown|undeliverable|unknown|invalid))|mail ?box (?:not found|unavailable|does not exist|is unavailable|name not allowed)|not our customer|user not (?:found|exist)|no mailbox|recipn?o?t?found|not a valid (?:mailbox|recipient|user)|account (?:that you tried to reach )?(?:does not exist|not found|unknown)|this user doesn'?t have|unknown or illegal (?:alias|user)|bad destination mailbox|undeliverable address|user doesn'?t exist|is not a known user|unrouteable address|no valid recipients|address (?:is )?unknown|no longer (?:valid|available|exists|in use)|user (?:has )?(?:moved|left)|invalid address|recipient rejected|address not present|not listed in (?:domino |the |public )?(?:directory|name)|not listed in .{0,20}directory|name is not recognized|address couldn'?t be found|user .{1,40} not (?:known|found)|destination address rejected|unknown address|mailbox unknown|unknown mailbox|address rejected(?!\s*:)|ディレクトリのリストにありません/i],
  ['mailbox_disabled', /account (?:has been |is )?(?:disabled|suspended|deactivated|inactive|locked|expired|blocked)|mail ?box (?:is )?(?:disabled|inactive|suspended|unavailable due|locked)|user (?:account )?(?:is )?(?:disabled|suspended|inactive)|inactive (?:user|account|mailbox)|not an active|account.{0,20}(?:is|has been) (?:suspended|disabled)/i],
  ['policy_blocked', /spamhaus|spamcop|sorbs|barracuda|black ?list|block ?list|\brbl\b|dnsbl|listed (?:at|on|in|by)|reputation|blacklisted/i],
  ['spam_content', /spam|virus|malware|content (?:rejected|filter)|message (?:content )?(?:was )?rejected (?:for|due|as|because)|unsolicited|bulk mail|looks? like|suspicious|phish|infected|banned (?:attachment|file)|scor(?:e|ing)|message filtered|contains? (?:a )?(?:url|link)/i],
  ['rate_limited', /rate limit|too many (?:connections|messages|recipients|mails|e-?mails|concurrent|sessions)|throttl|sending rate|receiving mail at a rate|connection limit|slow down|too fast|concurrent connections|exceeded (?:the )?(?:rate|maximum number)|try (?:again )?later|temporarily (?:deferred|rate)|max(?:imum)? (?:number of )?connections/i],
];

// Generic words: used only when neither the specific words nor the status code said anything.
const GENERIC_RULES: Array<[BounceReason, RegExp]> = [
  ['expired', /expired|retry (?:time|timeout)|delivery time|could not be delivered (?:for|within|in) \d+|timed? ?out|giving up|no answer|has been delayed|unable to deliver .{0,40}(?:days|hours)/i],
  ['policy_blocked', /blocked|block|denied|refused|not (?:permitted|allowed|authori[sz]ed|accepted)|policy|prohibited|reject|relay|authenticat|dmarc|\bspf\b|dkim|reverse dns|\bptr\b|rdns|tls|not complian|rfc ?(?:5322|2822|822)|header|bad sender|sender (?:address )?(?:rejected|verify|verification)|access denied|forbidden|banned|restricted|unauthori[sz]ed|security|not trusted|administrative(?:ly)? prohibited/i],
];

/** Reasons an enhanced status code implies when the words say nothing usable. */
function reasonOfStatus(status: string): BounceReason | null {
  const m = /^([245])\.(\d{1,3})\.(\d{1,3})$/.exec(status);
  if (!m) return null;
  const [subject, detail] = [m[2]!, m[3]!];
  const code = `${subject}.${detail}`;
  if (['1.1', '1.3', '1.6'].includes(code)) return 'mailbox_unknown';
  if (code === '1.7' || code === '1.8') return 'policy_blocked';
  if (code === '0.0') return null;
  if (code === '1.2' || code === '1.10' || code === '4.4') return 'domain_not_found';
  if (code === '2.2') return 'mailbox_full';
  if (code === '2.1') return 'mailbox_disabled';
  if (code === '3.4' || code === '2.3') return 'too_large';
  if (code === '4.7' || code === '4.6') return 'expired';
  if (code === '7.0' && m[1] === '4') return 'rate_limited';
  if (subject === '7') return 'policy_blocked';
  return 'other';
}

const HARD: ReadonlySet<BounceReason> = new Set(['mailbox_unknown', 'domain_not_found']);

const AUTO_REPLY_SUBJECT =
  /out of (?:the )?office|auto(?:matic)?[- ]?(?:reply|response|antwort|réponse|respuesta)|autoreply|vacation|abwesenheit|absence|away from (?:my|the) (?:desk|office)|on (?:holiday|leave)|congés|fuera de la oficina|不在|自動応答/i;
const CHALLENGE = /please (?:confirm|verify) (?:that )?you|verify (?:that )?you(?:'re| are) (?:a )?(?:human|real)|challenge|sender verification|boxbe|spam ?arrest|mailblocks|choicemail|approve (?:your|this) (?:message|email)|waiting (?:for )?(?:your )?(?:approval|verification)|whitelist request/i;
const COMPLAINT_TYPES = new Set(['abuse', 'fraud', 'virus', 'other', 'auth-failure', 'dmarc']);

function firstMatch(rules: Array<[BounceReason, RegExp]>, words: string | null | undefined): BounceReason | null {
  if (!words) return null;
  for (const [reason, pattern] of rules) if (pattern.test(words)) return reason;
  return null;
}

/** What one report, or one recipient block of it, says happened. */
export function classify(s: Signals): Classification {
  if (s.feedbackType) return COMPLAINT_TYPES.has(s.feedbackType.toLowerCase()) ? { kind: 'complaint', reason: null } : { kind: 'unknown', reason: null };
  const action = s.action?.toLowerCase() ?? null;
  if (action === 'delivered' || action === 'relayed' || action === 'expanded') return { kind: 'delivered', reason: null };
  const enhanced = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(s.status ?? '')?.[1] ?? /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(s.diagnostic ?? '')?.[1] ?? null;
  if (action === 'delayed') return { kind: 'delayed', reason: firstMatch(SPECIFIC_RULES, s.diagnostic) ?? (enhanced ? reasonOfStatus(enhanced) : null) };
  if (!s.bounceForm && !action) {
    if (s.autoReplyHeaders || AUTO_REPLY_SUBJECT.test(s.subject ?? '')) return { kind: CHALLENGE.test(`${s.subject}\n${s.text ?? ''}`) ? 'challenge_response' : 'auto_reply', reason: null };
    if (CHALLENGE.test(`${s.subject ?? ''}\n${s.text ?? ''}`)) return { kind: 'challenge_response', reason: null };
  }
  if (enhanced?.startsWith('2.')) return { kind: 'delivered', reason: null };
  // The diagnostic speaks for the recipient; the text only when there is no diagnostic.
  const words = s.diagnostic ?? s.text;
  const byStatus = enhanced ? reasonOfStatus(enhanced) : null;
  const reason = firstMatch(SPECIFIC_RULES, words) ?? (byStatus !== 'other' ? byStatus : null) ?? firstMatch(GENERIC_RULES, words) ?? byStatus;
  const failed = action === 'failed' || !!enhanced || /\b[45]\d\d\b/.test(s.diagnostic ?? '') || !!s.bounceForm;
  if (!failed && !reason) return { kind: 'unknown', reason: null };
  if (!failed) return { kind: 'unknown', reason };
  if (reason && HARD.has(reason)) return { kind: 'hard_bounce', reason };
  return { kind: 'soft_bounce', reason: reason ?? 'other' };
}
