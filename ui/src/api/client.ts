import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

export type { paths };
export type Schemas = components['schemas'];

/** The session's CSRF token, sent as X-CSRF-Token on every request that changes anything. */
let csrfToken: string | null = null;
export const setCsrfToken = (token: string | null) => void (csrfToken = token);
export const csrfHeaders = (): Record<string, string> => (csrfToken ? { 'x-csrf-token': csrfToken } : {});

/** Called when the API answers 401: the session expired or its key was revoked. */
let onUnauthorized: () => void = () => {};
export const setOnUnauthorized = (handler: () => void) => void (onUnauthorized = handler);

const session: Middleware = {
  onRequest({ request }) {
    if (request.method !== 'GET' && request.method !== 'HEAD' && csrfToken) request.headers.set('x-csrf-token', csrfToken);
    return request;
  },
  onResponse({ response, request }) {
    if (response.status === 401 && !request.url.endsWith('/ui/session')) onUnauthorized();
    return response;
  },
};

/** Typed by the generated `paths`: a route, parameter or field the API does not have is a type error. */
export const api = createClient<paths>({ baseUrl: location.origin, credentials: 'same-origin' });
api.use(session);

/** An API error envelope's first message, for display. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
  ) {
    super(message);
  }
}

interface Envelope {
  errors?: { message: string; field: string | null; code: string }[];
}

/** The data of an openapi-fetch answer, or an ApiError with the envelope's message. */
export async function must<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  const first = (error as Envelope | undefined)?.errors?.[0];
  throw new ApiError(response.status, first ? `${first.message}${first.field ? ` (${first.field})` : ''}` : `HTTP ${response.status}`, first?.code ?? null);
}
