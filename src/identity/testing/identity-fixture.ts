import type { Store } from '../../store/open.js';
import { Authenticator } from '../authenticate.js';
import type { AuthContext } from '../auth-types.js';
import type { IdentityDeps, LockoutPolicy } from '../deps.js';
import { Tokens } from '../tokens.js';
import { Users } from '../users.js';
import { RecordingAudit } from './recording-audit.js';
import { makeTestSealer } from './test-sealer.js';

/** The lockout policy tests use: lock after 3 failures for 30 s, doubling, at most 240 s. */
export const TEST_LOCKOUT: LockoutPolicy = { threshold: 3, baseDelayS: 30, maxDelayS: 240 };

/** An attempt's context in tests. */
export const TEST_CTX: AuthContext = { clientAddr: '192.0.2.7', method: 'ssh-password' };

/** A scratch store with the identity services over it, a recording audit and a movable clock. */
export interface IdentityFixture extends AsyncDisposable {
  readonly store: Store;
  readonly audit: RecordingAudit;
  readonly deps: IdentityDeps;
  readonly users: Users;
  readonly tokens: Tokens;
  readonly auth: Authenticator;
  /** Current test time (ms); move it with {@link advance}. */
  now(): number;
  advance(ms: number): void;
}

/**
 * Puts the identity services over `store` (a scratch store from `test/support/stores.ts`);
 * disposing the fixture closes the store.
 */
export function makeIdentityFixture(store: Store): IdentityFixture {
  const audit = new RecordingAudit();
  let time = 1_700_000_000_000;
  const deps: IdentityDeps = {
    db: store.db,
    audit,
    clock: () => time,
    lockout: TEST_LOCKOUT,
    ...makeTestSealer(),
  };
  return {
    store,
    audit,
    deps,
    users: new Users(deps),
    tokens: new Tokens(deps),
    auth: new Authenticator(deps),
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
    [Symbol.asyncDispose]: () => store.close(),
  };
}
