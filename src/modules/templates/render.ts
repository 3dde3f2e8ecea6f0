import { invalid } from '../../errors.ts';
import { compileTemplate, renderTemplate, type CompiledTemplate } from '../../lib/liquid.ts';

/** A template's three parts compiled once, for rendering per recipient. */
export interface CompiledParts {
  subject: CompiledTemplate;
  html: CompiledTemplate | null;
  text: CompiledTemplate | null;
}

export interface TemplateParts {
  subject: string;
  html: string | null;
  body_text: string | null;
}

/**
 * Checks a template's content and compiles it: a subject and at least one body, each valid
 * Liquid (a syntax error is a 400 naming the field and the line).
 */
export function compileParts(parts: TemplateParts): CompiledParts {
  if (!parts.subject.trim()) throw invalid('required', 'subject is required', 'subject');
  if (!parts.html?.trim() && !parts.body_text?.trim()) throw invalid('missing_body', 'a template needs html or body_text (or both)', 'html');
  return {
    subject: compileTemplate(parts.subject, 'subject'),
    html: parts.html?.trim() ? compileTemplate(parts.html, 'html') : null,
    text: parts.body_text?.trim() ? compileTemplate(parts.body_text, 'body_text') : null,
  };
}

/** The variables a recipient renders with: per-send variables, then the contact's own fields on top. */
export function recipientVariables(
  contact: { email: string; name: string | null; metadata: Record<string, unknown> } | null,
  variables: Record<string, unknown>,
  unsubscribeUrl: string,
): Record<string, unknown> {
  const base: Record<string, unknown> = { ...variables, unsubscribe_url: unsubscribeUrl };
  if (contact) {
    base.email = contact.email;
    base.name = contact.name ?? '';
    base.metadata = contact.metadata;
  }
  return base;
}

export interface RenderedParts {
  subject: string;
  html: string | null;
  text: string | null;
}

/** Subject and text as text, HTML with every substituted value escaped. */
export function renderParts(compiled: CompiledParts, variables: Record<string, unknown>): RenderedParts {
  return {
    subject: renderTemplate(compiled.subject, variables, { html: false }).replace(/[\r\n]+/g, ' ').trim(),
    html: compiled.html ? renderTemplate(compiled.html, variables, { html: true }) : null,
    text: compiled.text ? renderTemplate(compiled.text, variables, { html: false }) : null,
  };
}
