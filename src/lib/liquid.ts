import { Liquid, Tag, type Template } from 'liquidjs';
import { DomainError } from '../errors.ts';

/**
 * The one place templates (subjects, HTML and text bodies) are compiled and rendered.
 *
 * Compile once (at save time, or once per campaign), render many times: `renderTemplate` is
 * synchronous and reuses the parsed form, so the delivery pipeline can render per recipient
 * without re-parsing. Templates come from API users, so every engine runs with limits that keep a
 * hostile template from stalling a worker or exhausting memory, and with no file-system access.
 */

/** Longest template source accepted, in characters. */
export const MAX_TEMPLATE_CHARS = 1_000_000;
/** Wall-clock budget of one render, in milliseconds. */
export const RENDER_TIME_LIMIT_MS = 500;
/** Longest rendered output, in characters; a render that produces more fails. */
export const MAX_OUTPUT_CHARS = 5_000_000;
/** Budget for objects a render may create (array/string building inside filters and loops). */
const MEMORY_LIMIT = 50_000_000;

/** Tags that read other templates from a file system; user templates are self-contained. */
const FILE_TAGS = ['include', 'render', 'layout'] as const;

class FileTagRefused extends Tag {
  constructor(...args: ConstructorParameters<typeof Tag>) {
    super(...args);
    throw new Error(`the {% ${this.name} %} tag is not available in templates`);
  }
  *render(): Generator<unknown, void, unknown> {}
}

function createEngine(escapeHtml: boolean): Liquid {
  const engine = new Liquid({
    strictFilters: true,
    strictVariables: false,
    ownPropertyOnly: true,
    jsTruthy: false,
    cache: false,
    // An in-memory (empty) mapping instead of the disk, belt and braces with the refused tags.
    templates: {},
    parseLimit: MAX_TEMPLATE_CHARS,
    renderLimit: RENDER_TIME_LIMIT_MS,
    memoryLimit: MEMORY_LIMIT,
    ...(escapeHtml ? { outputEscape: 'escape' as const } : {}),
  });
  for (const tag of FILE_TAGS) engine.registerTag(tag, FileTagRefused);
  return engine;
}

// The escape filter is attached to each output at parse time, hence one engine per mode.
const textEngine = createEngine(false);
const htmlEngine = createEngine(true);

export interface CompiledTemplate {
  /** The field the source came from (`subject`, `html`, `body_text`), named in errors. */
  readonly field: string;
  readonly source: string;
  /** Parsed forms per mode, filled on first use. */
  readonly parsed: { text?: Template[]; html?: Template[] };
  /** Set when the source is only text and plain `{{ a.b }}` outputs: rendered without the engine. */
  readonly plain: PlainTemplate | null;
}

/** Text segments around variable paths: texts.length === paths.length + 1. */
interface PlainTemplate {
  texts: string[];
  paths: string[][];
}

const PLAIN_OUTPUT = /\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}/g;
// Names Liquid reads as literals or as computed properties rather than as plain lookups.
const NOT_PLAIN = new Set(['true', 'false', 'nil', 'null', 'empty', 'blank', 'size', 'first', 'last']);

/**
 * Most campaign templates only substitute variables; for those the per-recipient render is a
 * concatenation (the engine walk costs more than the rest of composing a message).
 */
function plainForm(source: string): PlainTemplate | null {
  const texts: string[] = [];
  const paths: string[][] = [];
  let last = 0;
  for (const match of source.matchAll(PLAIN_OUTPUT)) {
    const path = match[1]!.split('.');
    if (path.some((name) => NOT_PLAIN.has(name))) return null;
    texts.push(source.slice(last, match.index));
    paths.push(path);
    last = match.index + match[0].length;
  }
  texts.push(source.slice(last));
  return texts.some((t) => t.includes('{{') || t.includes('{%')) ? null : { texts, paths };
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };

/** The value as Liquid prints it, or undefined when only the engine knows (objects, arrays, booleans). */
function plainValue(variables: Record<string, unknown>, path: string[]): string | undefined {
  let value: unknown = variables;
  for (const name of path) {
    if (value === null || value === undefined) return '';
    if (typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
  }
  if (value === null || value === undefined) return '';
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

/** The values of a plain template's outputs, in order (escaped in HTML mode), or undefined when only the engine can render it. */
export function plainValues(compiled: CompiledTemplate, variables: Record<string, unknown>, html: boolean): string[] | undefined {
  if (!compiled.plain) return undefined;
  const values: string[] = [];
  for (const path of compiled.plain.paths) {
    const value = plainValue(variables, path);
    if (value === undefined) return undefined;
    values.push(html ? value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!) : value);
  }
  return values;
}

/** The text around a plain template's outputs (one more than its outputs), or null when the template needs the engine. */
export function plainTexts(compiled: CompiledTemplate): readonly string[] | null {
  return compiled.plain?.texts ?? null;
}

function renderPlain(compiled: CompiledTemplate, variables: Record<string, unknown>, html: boolean): string | undefined {
  const values = plainValues(compiled, variables, html);
  if (!values) return undefined;
  const { texts } = compiled.plain!;
  let out = texts[0]!;
  for (let i = 0; i < values.length; i++) out += values[i]! + texts[i + 1]!;
  return out;
}

export interface RenderOptions {
  /** HTML mode escapes every substituted value (`| raw` opts out); text mode writes values as they are. */
  html: boolean;
}

/** Line and column of a liquidjs error, when it carries a token. */
function position(error: unknown): { line: number; col: number } | null {
  const token = (error as { token?: { getPosition?: () => [number, number] } }).token;
  if (!token?.getPosition) return null;
  const [line, col] = token.getPosition();
  return { line, col };
}

/** The library's message without the ", line:X, col:Y" it appends (we say it our way). */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/, line:\d+, col:\d+$/, '');
}

function parse(engine: Liquid, source: string, field: string): Template[] {
  try {
    return engine.parse(source);
  } catch (error) {
    const at = position(error);
    const where = at ? ` on line ${at.line}, column ${at.col}` : '';
    throw new DomainError('invalid', 'template_syntax', `${field} has a template syntax error${where}: ${reason(error)}`, field);
  }
}

/**
 * Parses a template, throwing DomainError invalid/template_syntax naming the field and the line
 * on a syntax error (unknown tag or filter, unclosed block, file tags).
 */
export function compileTemplate(source: string, field: string): CompiledTemplate {
  if (source.length > MAX_TEMPLATE_CHARS) {
    throw new DomainError('invalid', 'template_too_long', `${field} is longer than ${MAX_TEMPLATE_CHARS} characters`, field);
  }
  const text = parse(textEngine, source, field);
  return { field, source, parsed: { text }, plain: plainForm(source) };
}

/**
 * Renders a compiled template with the given variables, synchronously. Missing variables render
 * as empty. Throws DomainError invalid/template_render when a limit is hit or a filter fails.
 */
export function renderTemplate(compiled: CompiledTemplate, variables: Record<string, unknown>, options: RenderOptions): string {
  const plain = renderPlain(compiled, variables, options.html);
  if (plain !== undefined) return checkedLength(compiled, plain);
  const mode = options.html ? 'html' : 'text';
  let templates = compiled.parsed[mode];
  if (!templates) {
    templates = parse(options.html ? htmlEngine : textEngine, compiled.source, compiled.field);
    compiled.parsed[mode] = templates;
  }
  const engine = options.html ? htmlEngine : textEngine;
  let output: unknown;
  try {
    output = engine.renderSync(templates, variables);
  } catch (error) {
    const at = position(error);
    const where = at ? ` on line ${at.line}` : '';
    throw new DomainError('invalid', 'template_render', `${compiled.field} could not be rendered${where}: ${reason(error)}`, compiled.field);
  }
  return checkedLength(compiled, typeof output === 'string' ? output : String(output ?? ''));
}

function checkedLength(compiled: CompiledTemplate, text: string): string {
  if (text.length > MAX_OUTPUT_CHARS) {
    throw new DomainError('invalid', 'template_render', `${compiled.field} renders to more than ${MAX_OUTPUT_CHARS} characters`, compiled.field);
  }
  return text;
}
