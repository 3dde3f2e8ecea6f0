import { createHash, type Hash } from 'node:crypto';

/**
 * Reads a JSON body as it streams and decodes the base64 strings at `root[array][i][field]` (e.g.
 * `attachments[].content`) into bytes as they pass, so neither the body nor those strings are ever
 * held whole. `end()` gives the rest of the body as JSON text, each decoded string replaced by a
 * short key (`sha256` and the hex digest of its bytes), and the bytes by key, in pieces of at most
 * `pieceBytes`.
 *
 * The text is meant for JSON.parse and the usual checks, so it must answer exactly as the body itself
 * would: every byte outside a decoded string is kept as it came, a decoded string is one valid JSON
 * string replaced by another, and a string that is not clean base64 (the send rules' pattern: base64
 * characters and line breaks, at most two `=` at the end, escapes decoded) is replaced by one that
 * fails where the original fails: `"!"` (not base64), `"\u0000"` (held a NUL) or a bad escape (was not
 * valid JSON). An empty string stays empty. A key spelled with escapes is not recognised: its string
 * is kept as text, which is always correct, only not cheaper.
 */

export interface Base64Scan {
  text: string;
  decoded: Map<string, Buffer[]>;
}

export interface Base64FieldScanner {
  write(chunk: Buffer): void;
  end(): Base64Scan;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CR = 0x0d;
const LF = 0x0a;
const EQUALS = 0x3d;
const MAX_KEY_BYTES = 64;
/** Base64 characters staged before each decode: a multiple of 4, so every decode but the last is whole quanta. */
const STAGE_CHARS = 65_536;

const IS_BASE64 = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') IS_BASE64[c.charCodeAt(0)] = 1;

const SIMPLE_ESCAPES: Record<number, number> = { 0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 0x08, 0x66: 0x0c, 0x6e: LF, 0x72: CR, 0x74: 0x09 };

interface Frame {
  array: boolean;
  key: string | null;
  expectKey: boolean;
}

const enum Mode {
  Structure,
  Key,
  Text,
  Base64,
}

/** Decoded bytes of one string: staged characters, the pieces filled so far, the digest. */
class Decoder {
  readonly pieces: Buffer[] = [];
  private piece: Buffer | null = null;
  private used = 0;
  private readonly stage = Buffer.allocUnsafe(STAGE_CHARS);
  private staged = 0;
  private readonly hash: Hash = createHash('sha256');

  constructor(private readonly pieceBytes: number) {}

  push(bytes: Buffer, from: number, to: number): void {
    while (from < to) {
      const n = Math.min(to - from, STAGE_CHARS - this.staged);
      bytes.copy(this.stage, this.staged, from, from + n);
      this.staged += n;
      from += n;
      if (this.staged === STAGE_CHARS) this.flush();
    }
  }

  pushByte(byte: number): void {
    this.stage[this.staged++] = byte;
    if (this.staged === STAGE_CHARS) this.flush();
  }

  private flush(): void {
    if (!this.staged) return;
    const bytes = Buffer.from(this.stage.toString('latin1', 0, this.staged), 'base64');
    this.staged = 0;
    this.hash.update(bytes);
    for (let at = 0; at < bytes.length; ) {
      if (!this.piece) {
        this.piece = Buffer.allocUnsafe(this.pieceBytes);
        this.used = 0;
      }
      const n = bytes.copy(this.piece, this.used, at);
      this.used += n;
      at += n;
      if (this.used === this.pieceBytes) {
        this.pieces.push(this.piece);
        this.piece = null;
      }
    }
  }

  /** The key for these bytes; a last piece not filled is copied out, so it keeps only its own bytes. */
  finish(): string {
    this.flush();
    if (this.piece && this.used) this.pieces.push(Buffer.from(this.piece.subarray(0, this.used)));
    this.piece = null;
    return `sha256${this.hash.digest('hex')}`;
  }
}

export function createBase64FieldScanner(options: { array: string; field: string; pieceBytes: number }): Base64FieldScanner {
  const out: Buffer[] = [];
  const decoded = new Map<string, Buffer[]>();
  // Only the first three levels are followed (body, array, element); deeper ones are only counted.
  const frames: Frame[] = [];
  let depth = 0;
  let mode = Mode.Structure;
  // Key and Text strings: an escape's backslash seen, its next byte not yet.
  let escaped = false;
  let key: number[] | null = [];

  // Base64 strings.
  let decoder: Decoder | null = null;
  let chars = 0;
  let phase = 0; // 0: data, 1: padding, 2: line breaks after the padding
  let padding = 0;
  let clean = true;
  let badJson = false;
  let nul = false;
  let escape = -1; // -1: none; 0: after the backslash; 1-4: hex digits of \u read so far
  let unicode = 0;

  const target = () =>
    depth === 3 && frames[0]!.key === options.array && !frames[0]!.array && frames[1]!.array && !frames[2]!.array && frames[2]!.key === options.field;

  /** Whether the string starting here is one to decode. */
  function startString(): boolean {
    const frame = depth >= 1 && depth <= 3 ? frames[depth - 1]! : null;
    if (frame && !frame.array && frame.expectKey) {
      mode = Mode.Key;
      key = [];
    } else if (target()) {
      mode = Mode.Base64;
      decoder = new Decoder(options.pieceBytes);
      chars = phase = padding = 0;
      clean = true;
      badJson = nul = false;
      escape = -1;
    } else mode = Mode.Text;
    escaped = false;
    return mode === Mode.Base64;
  }

  /** One character of a base64 string (after unescaping). */
  function char(c: number): void {
    chars++;
    if (!clean) {
      if (c === 0) nul = true;
      return;
    }
    if (c === CR || c === LF) {
      if (phase === 1) phase = 2;
      return;
    }
    if (c === EQUALS && phase < 2 && padding < 2) {
      phase = 1;
      padding++;
      decoder!.pushByte(c);
      return;
    }
    if (phase === 0 && IS_BASE64[c]) {
      decoder!.pushByte(c);
      return;
    }
    clean = false;
    if (c === 0) nul = true;
  }

  function endBase64(): void {
    let replacement: string;
    if (badJson) replacement = '"\\x"';
    else if (!clean) replacement = nul ? '"\\u0000"' : '"!"';
    else if (!chars) replacement = '""';
    else {
      const k = decoder!.finish();
      decoded.set(k, decoder!.pieces);
      replacement = `"${k}"`;
    }
    decoder = null;
    out.push(Buffer.from(replacement, 'latin1'));
    mode = Mode.Structure;
  }

  /** Bytes of a base64 string from `i`; returns where the string ended (after its quote) or `chunk.length`. */
  function scanBase64(chunk: Buffer, i: number): number {
    const n = chunk.length;
    while (i < n) {
      const c = chunk[i]!;
      if (escape === 0) {
        i++;
        if (c === 0x75) {
          escape = 1;
          unicode = 0;
        } else {
          escape = -1;
          const simple = SIMPLE_ESCAPES[c];
          if (simple === undefined) badJson = true;
          else char(simple);
        }
        continue;
      }
      if (escape > 0) {
        i++;
        const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1;
        if (digit < 0) {
          badJson = true;
          escape = -1;
          if (c === QUOTE) {
            endBase64();
            return i;
          }
          continue;
        }
        unicode = unicode * 16 + digit;
        if (++escape === 5) {
          escape = -1;
          char(unicode);
        }
        continue;
      }
      if (c === QUOTE) {
        endBase64();
        return i + 1;
      }
      if (c === BACKSLASH) {
        escape = 0;
        i++;
        continue;
      }
      if (clean && phase === 0 && IS_BASE64[c]) {
        let j = i + 1;
        while (j < n && IS_BASE64[chunk[j]!]) j++;
        decoder!.push(chunk, i, j);
        chars += j - i;
        i = j;
        continue;
      }
      if (c < 0x20) badJson = true;
      else char(c);
      i++;
    }
    return i;
  }

  /** Bytes of a key or text string from `i`, kept as they are; returns where the string ended or `chunk.length`. */
  function scanString(chunk: Buffer, i: number): number {
    const n = chunk.length;
    while (i < n) {
      if (escaped) {
        escaped = false;
        key = null; // an escaped key is not one to recognise
        i++;
        continue;
      }
      let stop = i;
      while (stop < n && chunk[stop] !== QUOTE && chunk[stop] !== BACKSLASH) stop++;
      if (mode === Mode.Key && key) {
        if (key.length + stop - i > MAX_KEY_BYTES) key = null;
        else for (let j = i; j < stop; j++) key.push(chunk[j]!);
      }
      if (stop === n) return n;
      if (chunk[stop] === BACKSLASH) {
        escaped = true;
        i = stop + 1;
        continue;
      }
      if (mode === Mode.Key && depth >= 1 && depth <= 3) frames[depth - 1]!.key = key ? String.fromCharCode(...key) : null;
      mode = Mode.Structure;
      return stop + 1;
    }
    return i;
  }

  return {
    write(chunk) {
      let i = 0;
      let kept = 0; // start of the bytes of this chunk still to be copied to the text
      const n = chunk.length;
      while (i < n) {
        if (mode === Mode.Base64) {
          i = scanBase64(chunk, i);
          kept = i;
          continue;
        }
        if (mode !== Mode.Structure) {
          i = scanString(chunk, i);
          continue;
        }
        const c = chunk[i]!;
        const frame = depth >= 1 && depth <= 3 ? frames[depth - 1]! : null;
        if (c === QUOTE) {
          if (startString()) {
            if (i > kept) out.push(Buffer.from(chunk.subarray(kept, i)));
            i++;
            kept = i;
            continue;
          }
        } else if (c === 0x7b || c === 0x5b) {
          depth++;
          if (depth <= 3) frames[depth - 1] = { array: c === 0x5b, key: null, expectKey: c === 0x7b };
        } else if (c === 0x7d || c === 0x5d) {
          if (depth > 0) depth--;
        } else if (c === 0x2c) {
          if (frame && !frame.array) frame.expectKey = true;
        } else if (c === 0x3a) {
          if (frame && !frame.array) frame.expectKey = false;
        }
        i++;
      }
      if (mode !== Mode.Base64 && n > kept) out.push(Buffer.from(chunk.subarray(kept, n)));
    },
    end() {
      // A body ending inside a decoded string was cut short: its text must not parse either.
      if (mode === Mode.Base64) {
        out.push(Buffer.from('"\\x', 'latin1'));
        decoder = null;
      }
      return { text: Buffer.concat(out).toString('utf8'), decoded };
    },
  };
}
