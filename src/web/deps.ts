import type { KeyObject } from 'node:crypto';
import type { AuditWriter } from '../audit/index.js';
import type { Config } from '../config/index.js';
import type { Clock } from '../core/clock.js';
import type { Authenticator, Tokens, Users } from '../identity/index.js';
import type { Credentials } from '../lease/credentials.js';
import type { Gateways } from '../lease/gateways.js';
import type { RotationResult } from '../lease/rotation.js';
import type { Logger } from '../log/index.js';
import type { AccessPolicy, Grants, Targets } from '../policy/index.js';
import type { Store } from '../store/index.js';
import type { FetchHostKeyOptions, HostKey } from '../ssh/host-keys.js';

/** What the web API works with: the control-plane services, passed in (never imported). */
export interface WebDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  readonly audit: AuditWriter;
  readonly users: Users;
  readonly tokens: Tokens;
  readonly authenticator: Authenticator;
  readonly targets: Targets;
  readonly grants: Grants;
  readonly access: AccessPolicy;
  readonly credentials: Credentials;
  readonly gateways: Gateways;
  rotateCredential(target: string, options: { actor: string }): Promise<RotationResult>;
  /** The control-plane public key that signs audit checkpoints. */
  readonly auditPublicKey: KeyObject;
  /** Fetches an SSH target's host key (src/ssh/host-keys.ts `fetchHostKey`). */
  fetchHostKey(options: FetchHostKeyOptions): Promise<HostKey>;
  readonly clock?: Clock;
}
