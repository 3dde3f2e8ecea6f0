import { MAX_OUTPUT_CHARS, plainTexts, plainValues, type CompiledTemplate } from '../lib/liquid.ts';
import { toCrlf } from './mime-encoding.ts';

/**
 * A plain template (text and `{{ a.b }}` outputs only) whose text is 7bit, prepared once per
 * content so each recipient's body comes out ready for the wire: line ends already CRLF, and only
 * the substituted values checked (printable ASCII, lines of at most 998 octets, RFC 5322 2.1.1).
 * A recipient whose values do not fit goes through the general encoder instead.
 */
export interface SevenBitForm {
  template: CompiledTemplate;
  segments: Segment[];
}

interface Segment {
  /** The static text with CRLF line ends. */
  text: string;
  breaks: boolean;
  /** Length of its first line (up to its first CRLF) and of its last line (after its last CRLF). */
  head: number;
  tail: number;
}

const MAX_LINE = 998;
const SEVEN_BIT_CRLF = /^(?:[\x09\x20-\x7e]|\r\n)*$/;
const PRINTABLE = /^[\x09\x20-\x7e]*$/;

export function sevenBitForm(template: CompiledTemplate | null): SevenBitForm | null {
  const texts = template ? plainTexts(template) : null;
  if (!template || !texts) return null;
  const segments: Segment[] = [];
  for (const raw of texts) {
    const text = toCrlf(raw);
    if (!SEVEN_BIT_CRLF.test(text)) return null;
    const lines = text.split('\r\n');
    if (lines.slice(1, -1).some((line) => line.length > MAX_LINE)) return null;
    segments.push({ text, breaks: lines.length > 1, head: lines[0]!.length, tail: lines[lines.length - 1]!.length });
  }
  // The body's first and last lines are whole within their segment.
  const first = segments[0]!;
  const last = segments[segments.length - 1]!;
  if ((first.breaks && first.head > MAX_LINE) || (last.breaks && last.tail > MAX_LINE)) return null;
  return { template, segments };
}

/** The recipient's body as 7bit CRLF text, or undefined when it needs the general encoder. */
export function renderSevenBit(form: SevenBitForm, variables: Record<string, unknown>, html: boolean): string | undefined {
  const values = plainValues(form.template, variables, html);
  if (!values) return undefined;
  const { segments } = form;
  const first = segments[0]!;
  let out = first.text;
  let line = first.breaks ? first.tail : first.text.length;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (!PRINTABLE.test(value)) return undefined;
    const next = segments[i + 1]!;
    line += value.length;
    if (next.breaks) {
      if (line + next.head > MAX_LINE) return undefined;
      line = next.tail;
    } else {
      line += next.text.length;
    }
    out += value + next.text;
  }
  if (line > MAX_LINE || out.length > MAX_OUTPUT_CHARS) return undefined;
  return out;
}
