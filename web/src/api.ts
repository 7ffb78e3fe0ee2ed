/** The console's side of the Gatehouse API: JSON over fetch, same origin, CSRF header on changes. */

/** The signed-in user. */
export interface Me {
  readonly name: string;
  readonly roles: string[];
  readonly permissions: string[];
  readonly hasTotp: boolean;
  readonly via: 'session' | 'token';
  readonly csrfToken?: string;
}

/** A problem answer from the API. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly hint: string | undefined;
  constructor(status: number, code: string, message: string, hint: string | undefined) {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

let csrfToken = '';
let onUnauthorized: () => void = () => undefined;

/** Remembers the CSRF token of the current session. */
export function setSession(me: Me | undefined): void {
  csrfToken = me?.csrfToken ?? '';
}

/** What to do when the session is gone (401): back to the login page. */
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

/** Calls the API; throws {@link ApiError} with the problem's message and hint. */
export async function api<T>(
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  const data: unknown = text === '' ? undefined : JSON.parse(text);
  if (!res.ok) {
    const p = (data ?? {}) as { code?: string; title?: string; hint?: string };
    if (res.status === 401 && p.code === 'GH_AUTH_REQUIRED' && !path.startsWith('/api/auth/'))
      onUnauthorized();
    throw new ApiError(
      res.status,
      p.code ?? 'GH_INTERNAL',
      p.title ?? `request failed (${res.status})`,
      p.hint,
    );
  }
  return data as T;
}

/** Builds `?a=1&b=2` from the defined, non-empty values. */
export function queryString(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

/** A human message for an error. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError)
    return err.hint === undefined ? err.message : `${err.message} — ${err.hint}`;
  return err instanceof Error ? err.message : String(err);
}
