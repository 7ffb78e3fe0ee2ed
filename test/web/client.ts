import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { RunningGatehouse } from '../support/gatehouse.js';

/** An answer of the web API. */
export interface WebAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The parsed JSON body (undefined when there is none). */
  readonly json: Record<string, unknown> & { code?: string };
}

/** Options of one request. */
export interface WebRequestOptions {
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  /** Leave out the CSRF header a browser session would send. */
  readonly omitCsrf?: boolean;
}

/**
 * A client of a running Gatehouse's web API over real HTTPS, trusting the setup's CA, with
 * a cookie jar and the CSRF header of its console session (like the browser console).
 */
export class WebClient {
  readonly #port: number;
  readonly #ca: Buffer;
  #cookie: string | undefined;
  #csrf: string | undefined;
  #bearer: string | undefined;

  constructor(gatehouse: RunningGatehouse) {
    this.#port = gatehouse.webPort;
    this.#ca = readFileSync(join(gatehouse.dir, 'tls', 'ca.crt'));
  }

  /** The base URL. */
  get origin(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  /** The session cookie's value (for WebSocket tests). */
  get cookie(): string | undefined {
    return this.#cookie;
  }

  /** Signs in with a password; throws unless the answer is a session. */
  async login(user: string, password: string): Promise<void> {
    const res = await this.call('POST', '/api/auth/login', { body: { user, password } });
    if (res.status !== 200 || res.json['status'] !== 'ok')
      throw new Error(`login of ${user} failed: ${res.status} ${res.text}`);
    this.#csrf = (res.json['me'] as { csrfToken: string }).csrfToken;
  }

  /** Uses a personal access token instead of a session. */
  useToken(secret: string): void {
    this.#bearer = secret;
  }

  /** One request. */
  call(method: string, path: string, options: WebRequestOptions = {}): Promise<WebAnswer> {
    const payload =
      options.body === undefined || method === 'GET' || method === 'DELETE'
        ? undefined
        : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (this.#cookie !== undefined) headers['cookie'] = `__Host-gatehouse=${this.#cookie}`;
    if (this.#bearer !== undefined) headers['authorization'] = `Bearer ${this.#bearer}`;
    if (this.#csrf !== undefined && options.omitCsrf !== true && method !== 'GET')
      headers['x-csrf-token'] = this.#csrf;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.#port,
          method,
          path,
          headers,
          ca: this.#ca,
          servername: 'localhost',
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            for (const c of [res.headers['set-cookie'] ?? []].flat()) {
              const m = /^__Host-gatehouse=([^;]*)/.exec(c);
              if (m !== null) this.#cookie = m[1] === '' ? undefined : m[1];
            }
            let json: WebAnswer['json'] = {};
            try {
              json = text === '' ? {} : (JSON.parse(text) as WebAnswer['json']);
            } catch {
              // not JSON (a recording)
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }
}

/** One audit event as `gatehouse audit tail --json` prints it. */
export interface AuditLine {
  readonly seq: number;
  readonly type: string;
  readonly user: string | null;
  readonly sid: string | null;
  readonly data: Record<string, unknown>;
}

/** The last `n` audit events of a running Gatehouse, oldest first (through its CLI). */
export async function auditEvents(gatehouse: RunningGatehouse, n = 500): Promise<AuditLine[]> {
  const tail = await gatehouse.cli(['audit', 'tail', '-n', String(n), '--json']);
  return tail.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as AuditLine);
}
