// The send job's rendering: a compiled content per content id (bounded cache), the Date header per second, and
// DKIM keys per key and domain for a minute, so a campaign of one content compiles and looks up each once.
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.ts';
import { compileContent, composeMessage, type CompiledContent } from '../delivery/compose.ts';
import { bodyHash, dkimSignatureField, type DkimKey, type RsaSigner } from '../delivery/dkim.ts';
import type { MessageLinks } from '../delivery/links.ts';
import { formatDate } from '../delivery/mime-encoding.ts';
import * as queue from '../delivery/queue-repo.ts';

const CONTENT_CACHE_SIZE = 500;
const KEY_CACHE_MS = 60_000;
/** A content holding this much (attachments, mostly) is kept only while it is being sent, so memory returns after the send. */
export const LARGE_CONTENT_BYTES = 1_048_576;
const LARGE_CONTENT_IDLE_MS = 10_000;

const bytesOf = (parts: Buffer[]) => parts.reduce((sum, part) => sum + part.length, 0);
// A static body shares the attachments' pieces: they are counted once.
const contentBytes = (content: CompiledContent) =>
  Math.max(bytesOf(content.attachmentSections), bytesOf(content.staticBody?.parts ?? [])) + (content.raw ? 0 : (content.html?.length ?? 0) + (content.text?.length ?? 0));
const CRLF = Buffer.from('\r\n');

export interface MessageRendererOptions {
  db: Kysely<DB>;
  hostname: string;
  links?: MessageLinks | undefined;
  /** With both, messages are DKIM-signed with their domain's key (none: unsigned). */
  signingKeyFor?: ((keyId: string, fromAddress: string) => Promise<DkimKey | null>) | undefined;
  signer?: RsaSigner | undefined;
}

export interface MessageRenderer {
  /** Compiles the contents not cached yet (one query for all of them). */
  load(ids: string[]): Promise<void>;
  /** A loaded content, or the error its compiling threw; undefined when not loaded. */
  content(id: string): CompiledContent | Error | undefined;
  /**
   * The message as sent, in pieces: the DKIM signature (when its domain has a key) with the headers,
   * then the body's pieces, which are the content's own Buffers where they do not vary by recipient.
   */
  render(message: queue.ClaimedMessage, content: CompiledContent, now: Date): Promise<Buffer[]>;
}

export function createMessageRenderer(options: MessageRendererOptions): MessageRenderer {
  const contents = new Map<string, CompiledContent | Error>();
  const signingKeys = new Map<string, { key: DkimKey | null; until: number }>();
  let dateCache = { second: -1, text: '' };
  /** Large contents by id: when each was last used, and the timer that drops it once idle. */
  const large = new Map<string, { usedAt: number; timer: NodeJS.Timeout }>();

  function touchLarge(id: string): void {
    const entry = large.get(id);
    if (entry) entry.usedAt = Date.now();
  }
  function trackLarge(id: string): void {
    const drop = () => {
      const entry = large.get(id);
      if (!entry) return;
      const idle = Date.now() - entry.usedAt;
      if (idle < LARGE_CONTENT_IDLE_MS) {
        entry.timer = setTimeout(drop, LARGE_CONTENT_IDLE_MS - idle).unref();
        return;
      }
      large.delete(id);
      contents.delete(id);
    };
    large.set(id, { usedAt: Date.now(), timer: setTimeout(drop, LARGE_CONTENT_IDLE_MS).unref() });
  }

  function dateHeader(now: Date): string {
    const second = Math.floor(now.getTime() / 1000);
    if (second !== dateCache.second) dateCache = { second, text: formatDate(now) };
    return dateCache.text;
  }

  async function signingKey(keyId: string, from: string): Promise<DkimKey | null> {
    if (!options.signingKeyFor || !options.signer) return null;
    const cacheKey = `${keyId}|${from.slice(from.lastIndexOf('@') + 1).toLowerCase()}`;
    const cached = signingKeys.get(cacheKey);
    if (cached && cached.until > Date.now()) return cached.key;
    const key = await options.signingKeyFor(keyId, from);
    signingKeys.set(cacheKey, { key, until: Date.now() + KEY_CACHE_MS });
    return key;
  }

  return {
    async load(ids) {
      const missing = [...new Set(ids)].filter((id) => !contents.has(id));
      if (!missing.length) return;
      for (const row of await queue.loadContents(options.db, missing)) {
        if (contents.size >= CONTENT_CACHE_SIZE) contents.delete(contents.keys().next().value!);
        try {
          const compiled = compileContent(row);
          contents.set(row.id, compiled);
          if (contentBytes(compiled) >= LARGE_CONTENT_BYTES) trackLarge(row.id);
        } catch (error) {
          contents.set(row.id, error as Error);
        }
      }
    },
    content: (id) => contents.get(id),
    async render(message, content, now) {
      touchLarge(content.id);
      const composed = composeMessage(content, message, { hostname: options.hostname, links: options.links, date: dateHeader(now) });
      const head = Buffer.from(composed.headers, 'utf8');
      const key = await signingKey(message.key_id, content.fromEmail);
      if (!key) return [Buffer.concat([head, CRLF]), ...composed.body.parts];
      const body = composed.body;
      body.bodyHash ??= bodyHash(body.parts);
      const signature = await dkimSignatureField(key, composed.headers, body.bodyHash, options.signer!, now);
      return [Buffer.concat([Buffer.from(signature, 'latin1'), head, CRLF]), ...body.parts];
    },
  };
}
