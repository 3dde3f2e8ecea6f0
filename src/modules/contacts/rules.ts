import type { SuppressionReason } from '../suppressions/repo.ts';
import type { ContactStatus } from './tables.ts';

/** Pure rules of contacts: what a valid row is, what a status means for suppression, engagement scoring. */

export const CONTACT_STATUSES: readonly ContactStatus[] = ['active', 'unsubscribed', 'bounced', 'complained'];
export const MAX_EMAIL_CHARS = 254;
export const MAX_NAME_CHARS = 256;
/** Serialized size of one contact's metadata. */
export const MAX_METADATA_CHARS = 16_384;

// RFC 5321 limits and a dot-atom local part; quoted local parts are refused (nobody subscribes with one).
const LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
const UNICODE_LABEL = /^(?!-)[\p{L}\p{N}-]{1,63}(?<!-)$/u;

/** Address syntax good enough to send to; fast, as imports check up to a million rows. */
export function isValidEmail(email: string): boolean {
  if (email.length > MAX_EMAIL_CHARS) return false;
  const at = email.lastIndexOf('@');
  if (at < 1 || at === email.length - 1) return false;
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (local.length > 64 || !LOCAL.test(local)) return false;
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  if (!labels.every((l) => LABEL.test(l) || UNICODE_LABEL.test(l))) return false;
  return !/^\d+$/.test(labels[labels.length - 1]!);
}

export interface RowProblem {
  code: 'invalid_email' | 'too_long' | 'invalid_metadata' | 'invalid_name' | 'missing_email';
  field: 'email' | 'name' | 'metadata';
  message: string;
}

export interface ContactInput {
  email: string;
  name?: string | null;
  metadata?: Record<string, unknown>;
  /** metadata as JSON text, when given (serialized once for the size check). */
  metadataJson?: string;
}

/** Checks one incoming contact (an import row or an API body); null when it is fine. */
export function checkContactInput(row: unknown): { input: ContactInput; problem: null } | { input: null; problem: RowProblem } {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    return { input: null, problem: { code: 'missing_email', field: 'email', message: 'each entry must be an object with an email' } };
  }
  const { email, name, metadata } = row as Record<string, unknown>;
  if (typeof email !== 'string' || email.trim() === '') return { input: null, problem: { code: 'missing_email', field: 'email', message: 'email is required' } };
  const trimmed = email.trim();
  if (trimmed.length > MAX_EMAIL_CHARS) return { input: null, problem: { code: 'too_long', field: 'email', message: `email is longer than ${MAX_EMAIL_CHARS} characters` } };
  if (!isValidEmail(trimmed)) return { input: null, problem: { code: 'invalid_email', field: 'email', message: 'email is not a valid address' } };
  if (name !== undefined && name !== null && typeof name !== 'string') return { input: null, problem: { code: 'invalid_name', field: 'name', message: 'name must be a string' } };
  // PostgreSQL text and jsonb cannot hold a NUL character.
  if (typeof name === 'string' && name.includes('\u0000')) return { input: null, problem: { code: 'invalid_name', field: 'name', message: 'name contains a NUL character' } };
  if (typeof name === 'string' && name.length > MAX_NAME_CHARS) return { input: null, problem: { code: 'too_long', field: 'name', message: `name is longer than ${MAX_NAME_CHARS} characters` } };
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))) {
    return { input: null, problem: { code: 'invalid_metadata', field: 'metadata', message: 'metadata must be an object' } };
  }
  let serialized: string | undefined;
  if (metadata !== undefined) {
    serialized = JSON.stringify(metadata);
    if (serialized.length > MAX_METADATA_CHARS) {
      return { input: null, problem: { code: 'too_long', field: 'metadata', message: `metadata is larger than ${MAX_METADATA_CHARS} characters` } };
    }
    if (serialized.includes('\\u0000')) return { input: null, problem: { code: 'invalid_metadata', field: 'metadata', message: 'metadata contains a NUL character' } };
  }
  const input: ContactInput = { email: trimmed };
  if (name !== undefined) input.name = name as string | null;
  if (metadata !== undefined) {
    input.metadata = metadata as Record<string, unknown>;
    input.metadataJson = serialized;
  }
  return { input, problem: null };
}

/** The suppression reason a status puts an address under; active puts it under none. */
export function suppressionReasonFor(status: ContactStatus): SuppressionReason | null {
  switch (status) {
    case 'unsubscribed':
      return 'unsubscribe';
    case 'bounced':
      return 'bounce';
    case 'complained':
      return 'complaint';
    default:
      return null;
  }
}

/** Days without an open or click after which a contact counts as passive, then dormant. */
export const ACTIVE_WINDOW_DAYS = 30;
export const PASSIVE_WINDOW_DAYS = 90;

export type EngagementScore = 'active' | 'passive' | 'dormant';

/** active: opened or clicked in the last 30 days; passive: in the last 90; dormant: otherwise or never. */
export function engagementScore(lastEngagementAt: Date | null, now: Date): EngagementScore {
  if (!lastEngagementAt) return 'dormant';
  const days = (now.getTime() - lastEngagementAt.getTime()) / 86_400_000;
  if (days <= ACTIVE_WINDOW_DAYS) return 'active';
  if (days <= PASSIVE_WINDOW_DAYS) return 'passive';
  return 'dormant';
}

/**
 * A spreadsheet runs a cell starting with = + - @ (or tab / carriage return) as a formula; a leading
 * apostrophe makes it text (OWASP "CSV injection").
 */
export function csvSafeCell(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

const NEEDS_QUOTES = /[",\r\n]/;

/**
 * One CSV line (RFC 4180 quoting). Hand-rolled rather than csv-stringify for the export only: a
 * million rows spent about four seconds in the library's per-cell machinery; quoting is this simple.
 */
export function csvLine(cells: readonly (string | number)[]): string {
  let line = '';
  for (let i = 0; i < cells.length; i++) {
    const cell = String(cells[i]);
    if (i) line += ',';
    line += NEEDS_QUOTES.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
  }
  return `${line}\n`;
}
