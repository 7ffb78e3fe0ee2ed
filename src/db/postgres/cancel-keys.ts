import { randomInt, timingSafeEqual } from 'node:crypto';
import type { CancelKey } from './protocol/index.js';

/** Where a cancel for one client session goes: the target backend's key, and how to reach it. */
export interface CancelRoute {
  readonly sid: string;
  /** Sends the target's own CancelRequest; resolves when it was sent (or failed). */
  cancel(): Promise<void>;
  /** Told of each accepted cancel (for audit). */
  onCancel(fromAddr: string): void;
}

/**
 * The gateway's own cancel keys (PG protocol: BackendKeyData / CancelRequest). Clients get a
 * random key per session, never the target's, so the target's process id and secret stay
 * inside and a cancel works only through the gateway, for the session that holds the key.
 */
export class CancelKeyRegistry {
  readonly #routes = new Map<number, { readonly secret: number; readonly route: CancelRoute }>();

  /** Live sessions holding a key. */
  get size(): number {
    return this.#routes.size;
  }

  /** A fresh key for `route`; give it to the client in BackendKeyData. */
  register(route: CancelRoute): CancelKey {
    let pid: number;
    do pid = randomInt(1, 0x7fff_ffff);
    while (this.#routes.has(pid));
    const secret = randomInt(-0x8000_0000, 0x7fff_ffff);
    this.#routes.set(pid, { secret, route });
    return { pid, secret };
  }

  /** Forgets a key (the session ended). */
  forget(key: CancelKey): void {
    const held = this.#routes.get(key.pid);
    if (held !== undefined && held.secret === key.secret) this.#routes.delete(key.pid);
  }

  /**
   * Cancels what the session holding `key` runs, if the key is right. Returns the session id,
   * or undefined for a wrong key (PostgreSQL ignores those silently, and so does the caller).
   */
  async cancel(key: CancelKey, fromAddr: string): Promise<string | undefined> {
    const held = this.#routes.get(key.pid);
    if (held === undefined || !isSameSecret(held.secret, key.secret)) return undefined;
    held.route.onCancel(fromAddr);
    await held.route.cancel();
    return held.route.sid;
  }
}

function isSameSecret(a: number, b: number): boolean {
  const x = Buffer.alloc(4);
  const y = Buffer.alloc(4);
  x.writeInt32BE(a);
  y.writeInt32BE(b);
  return timingSafeEqual(x, y);
}
