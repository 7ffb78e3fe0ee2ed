import { mkdtempSync, rmSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { expect } from 'vitest';
import { isGatehouseError, type ErrorCode } from '../../src/core/errors.js';
import type { User } from '../../src/core/types.js';
import { makeSigner, type Signer } from '../../src/crypto/key-files.js';
import { findUserRow, toUser } from '../../src/identity/user-rows.js';
import { LeaseService, type AuthorizedSession } from '../../src/lease/control-plane.js';
import { Credentials } from '../../src/lease/credentials.js';
import { GatewayClient } from '../../src/lease/gateway-client.js';
import { generateGatewayIdentity, type GatewayIdentity } from '../../src/lease/gateway-identity.js';
import { Gateways } from '../../src/lease/gateways.js';
import type { KmsProvider } from '../../src/lease/kms.js';
import { createLocalKeyFile, openLocalKms } from '../../src/lease/kms-local.js';
import {
  newRequestNonce,
  signUnlockRequest,
  type SignedUnlockRequest,
} from '../../src/lease/leases.js';
import { readSessionGrantUnverified } from '../../src/lease/session-grant.js';
import { newProofNonce, type PasswordProof } from '../../src/lease/user-proof.js';
import { AccessPolicy } from '../../src/policy/access.js';
import { Grants } from '../../src/policy/grants.js';
import { Targets } from '../../src/policy/targets.js';
import type { Database, Store } from '../../src/store/index.js';
import { FakeProofVerifier } from './lease-fake-proofs.js';
import { MemoryAudit } from './memory-audit.js';
import { openScratchStore, STORE_DRIVERS } from './stores.js';

/** A gateway enrolled in the world, with its client. */
export interface WorldGateway {
  readonly id: string;
  readonly identity: GatewayIdentity;
  readonly client: GatewayClient;
}

/** Everything the lease tests drive: a store, a local KMS, policy, a control plane and a gateway. */
export interface LeaseWorld extends AsyncDisposable {
  readonly store: Store;
  readonly db: Kysely<Database>;
  readonly audit: MemoryAudit;
  /** Shared test clock (ms); move `now` to move time everywhere. */
  readonly clock: { now: number };
  readonly kms: KmsProvider;
  readonly kmsKeyFile: string;
  readonly targets: Targets;
  readonly grants: Grants;
  readonly access: AccessPolicy;
  readonly proofs: FakeProofVerifier;
  readonly signer: Signer;
  readonly gateways: Gateways;
  readonly credentials: Credentials;
  readonly service: LeaseService;
  /** The embedded gateway, enrolled at start. */
  readonly gatewayA: WorldGateway;
  addGateway(name: string): Promise<WorldGateway>;
  addUser(
    name: string,
    options?: { readonly roles?: readonly string[]; readonly password?: string },
  ): Promise<User>;
  findUser(name: string): Promise<User | undefined>;
  /** A fresh password proof for `user` (password defaults to the one set by addUser). */
  passwordProof(user: string, password?: string): PasswordProof;
  /** Authenticates `user` with a password proof and authorizes `target` on `gateway` (default A). */
  authorize(user: string, target: string, gateway?: WorldGateway): Promise<AuthorizedSession>;
  /** Adds an SSH target, a grant for `user`, and a password credential. Returns the grant id. */
  seedTarget(options: {
    readonly target: string;
    readonly user: string;
    readonly password: string;
    readonly durationMs?: number;
  }): Promise<string>;
}

/** The store drivers, re-exported for `describe.each`. */
export const LEASE_STORE_DRIVERS = STORE_DRIVERS;

/** A fixed start time for the test clock. */
export const WORLD_START_MS = 1_800_000_000_000;

/** Opens a fresh world on `driver`; dispose it to close the store and remove temp files. */
export async function openLeaseWorld(driver: (typeof STORE_DRIVERS)[number]): Promise<LeaseWorld> {
  const store = await openScratchStore(driver);
  const dir = mkdtempSync(join(tmpdir(), 'gh-lease-'));
  const kmsKeyFile = join(dir, 'master.key');
  createLocalKeyFile(kmsKeyFile);
  const kms = await openLocalKms(kmsKeyFile);
  const db = store.db;
  const audit = new MemoryAudit();
  const clock = { now: WORLD_START_MS };
  const now = (): number => clock.now;
  const deps = { db, audit, clock: now };
  const findUser = async (name: string): Promise<User | undefined> => {
    const row = await findUserRow(db, name);
    return row === undefined ? undefined : await toUser(db, row);
  };
  const targets = new Targets(deps);
  const grants = new Grants(deps);
  const access = new AccessPolicy({ targets, grants, audit, clock: now, findUser });
  const proofs = new FakeProofVerifier(findUser);
  const signer = makeSigner(generateKeyPairSync('ed25519').privateKey);
  const gateways = new Gateways(deps);
  const credentials = new Credentials({ db, kms, audit, clock: now });
  const service = new LeaseService({ db, audit, kms, access, proofs, signer, clock: now });

  const addGateway = async (name: string): Promise<WorldGateway> => {
    const identity = generateGatewayIdentity(name);
    const id = await gateways.enrollEmbedded(name, identity);
    return {
      id,
      identity,
      client: new GatewayClient({ id, identity, plane: service, clock: now }),
    };
  };
  const gatewayA = await addGateway('gw-a');

  const passwordProof = (user: string, password?: string): PasswordProof => ({
    kind: 'password',
    user,
    password: password ?? proofs.passwords.get(user) ?? '',
    nonce: newProofNonce(),
    ts: clock.now,
  });

  const addUser = async (
    name: string,
    options: { readonly roles?: readonly string[]; readonly password?: string } = {},
  ): Promise<User> => {
    const id = `usr_${name}`;
    await db
      .insertInto('users')
      .values({
        id,
        name,
        password_hash: null,
        scram_verifier: null,
        totp_secret: null,
        totp_enabled: 0,
        disabled: 0,
        failed_count: 0,
        locked_until: 0,
        last_failure_at: 0,
        created_at: clock.now,
      })
      .execute();
    for (const role of options.roles ?? ['user'])
      await db.insertInto('user_roles').values({ user_id: id, role }).execute();
    proofs.passwords.set(name, options.password ?? `pw-${name}`);
    const user = await findUser(name);
    if (user === undefined) throw new Error('user not stored');
    return user;
  };

  const close = async (): Promise<void> => {
    kms.close?.();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };

  return {
    store,
    db,
    audit,
    clock,
    kms,
    kmsKeyFile,
    targets,
    grants,
    access,
    proofs,
    signer,
    gateways,
    credentials,
    service,
    gatewayA,
    addGateway,
    findUser,
    passwordProof,
    addUser,
    authorize(user, target, gateway = gatewayA) {
      return service.authenticateAndAuthorize({
        proof: passwordProof(user),
        target,
        gatewayId: gateway.id,
        clientAddr: '192.0.2.10',
        via: 'ssh',
      });
    },
    async seedTarget(options) {
      if ((await findUser(options.user)) === undefined) await addUser(options.user);
      await targets.add(
        { name: options.target, kind: 'ssh', host: '127.0.0.1', port: 22, username: 'deploy' },
        { actor: 'admin' },
      );
      const grant = await grants.create(
        {
          subject: { kind: 'user', name: options.user },
          scope: { kind: 'target', name: options.target },
          durationMs: options.durationMs,
        },
        { actor: 'admin' },
      );
      await credentials.set(
        options.target,
        { kind: 'password', password: Buffer.from(options.password) },
        { actor: 'admin' },
      );
      return grant.id;
    },
    [Symbol.asyncDispose]: close,
  };
}

/** The password credential of web-1 in {@link openSeededLeaseWorld}. */
export const LEASED_PASSWORD = 'leased-pw-7Hq2';

/** A fresh world in which alice may use web-1 (SSH), whose credential is {@link LEASED_PASSWORD}. */
export async function openSeededLeaseWorld(
  driver: (typeof STORE_DRIVERS)[number],
): Promise<LeaseWorld> {
  const world = await openLeaseWorld(driver);
  try {
    await world.seedTarget({ target: 'web-1', user: 'alice', password: LEASED_PASSWORD });
    return world;
  } catch (err) {
    await world[Symbol.asyncDispose]();
    throw err;
  }
}

/** An asymmetric matcher for a GatehouseError with `code`: `rejects.toThrow(withCode('GH_…'))`. */
export function withCode(code: ErrorCode): unknown {
  return expect.toSatisfy((err: unknown) => isGatehouseError(err, code));
}

/** `gateway`'s signed request to unlock `grant`'s target (web-1 when the grant cannot be read). */
export function unlockRequest(
  gateway: WorldGateway,
  world: LeaseWorld,
  grant: string,
  patch: Partial<SignedUnlockRequest['payload']> = {},
): SignedUnlockRequest {
  const target = grant.includes('.') ? safeTarget(grant) : 'web-1';
  return signUnlockRequest(gateway.identity.signer, gateway.id, {
    grant,
    target,
    nonce: newRequestNonce(),
    ts: world.clock.now,
    ...patch,
  });
}

function safeTarget(grant: string): string {
  try {
    return readSessionGrantUnverified(grant).target;
  } catch {
    return 'web-1';
  }
}

/** The reasons of the `credential.unlock_denied` events audited so far, in order. */
export function deniedReasons(world: LeaseWorld): unknown[] {
  return world.audit.ofType('credential.unlock_denied').map((e) => e.data['reason']);
}
