import type { Me } from './api.js';

/** What a page gets: where to draw, who is signed in, the route's parameters. */
export interface PageContext {
  readonly root: HTMLElement;
  readonly me: Me;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly navigate: (path: string) => void;
}

/** A page draws itself and may return a cleanup (timers, players, sockets). */
export type Page = (ctx: PageContext) => Promise<(() => void) | void>;

/** True when the user holds `permission`. */
export function can(me: Me, permission: string): boolean {
  return me.permissions.includes(permission);
}
