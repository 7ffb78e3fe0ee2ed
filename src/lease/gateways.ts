import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { AuditEventInput, AuditWriter } from '../audit/types.js';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { keyIdOf, publicKeyFromBase64 } from '../crypto/key-files.js';
import type { Database, GatewaysTable } from '../store/schema.js';
import type { GatewayIdentity } from './gateway-identity.js';

/** An enrolled gateway as the control plane knows it (public keys only). */
export interface Gateway {
  readonly id: string;
  readonly name: string;
  readonly status: GatewayStatus;
  /** Ed25519 public key, SPKI DER base64. */
  readonly signPublicKey: string;
  /** X25519 public key, SPKI DER base64. */
  readonly sealPublicKey: string;
  /** Short id of the signing key (first 16 hex of SHA-256 of its SPKI DER). */
  readonly signKeyId: string;
  readonly enrolledAt: number;
  readonly revokedAt: number | null;
}

/** `active` gateways may get grants and unlock; `revoked` ones may not. */
export type GatewayStatus = 'active' | 'revoked';

/** The public keys a gateway enrolls with. */
export interface GatewayPublicKeys {
  readonly signPublicKey: string;
  readonly sealPublicKey: string;
}

/** A one-time enrollment token, shown once to the operator. */
export interface EnrollToken {
  readonly token: string;
  readonly name: string;
  readonly expiresAt: number;
}

/** Dependencies of {@link Gateways}. */
export interface GatewaysDeps {
  readonly db: Kysely<Database>;
  readonly audit: AuditWriter;
  readonly clock?: Clock;
}

/** Longest life of an enrollment token. */
export const MAX_ENROLL_TOKEN_TTL_MS = 7 * 86_400_000;

const GATEWAY_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const ENROLL_TOKEN_PREFIX = 'ghe_';
const ENROLL_TOKEN_BYTES = 32;

/** Enrolled gateways: one-time tokens for remote ones, automatic for the embedded one. All audited. */
export class Gateways {
  readonly #db: Kysely<Database>;
  readonly #audit: AuditWriter;
  readonly #clock: Clock;

  constructor(deps: GatewaysDeps) {
    this.#db = deps.db;
    this.#audit = deps.audit;
    this.#clock = deps.clock ?? systemClock;
  }

  /** Creates a one-time enrollment token for gateway `name`; only its SHA-256 is stored. */
  async createEnrollToken(
    name: string,
    options: { readonly ttlMs: number; readonly actor: string },
  ): Promise<EnrollToken> {
    assertName(name);
    if (
      !Number.isInteger(options.ttlMs) ||
      options.ttlMs <= 0 ||
      options.ttlMs > MAX_ENROLL_TOKEN_TTL_MS
    ) {
      throw new GatehouseError('GH_INVALID_ARGUMENT', {
        message: 'enrollment token lifetime must be between 1 ms and 7 days',
      });
    }
    if ((await this.#findByName(name)) !== undefined) {
      throw new GatehouseError('GH_ALREADY_EXISTS', {
        message: `gateway "${name}" is already enrolled`,
      });
    }
    const now = this.#clock();
    const token = `${ENROLL_TOKEN_PREFIX}${randomBytes(ENROLL_TOKEN_BYTES).toString('base64url')}`;
    const tokenHash = hashToken(token);
    const expiresAt = now + options.ttlMs;
    await this.#db
      .insertInto('enroll_tokens')
      .values({
        token_hash: tokenHash,
        name,
        expires_at: expiresAt,
        used_at: null,
        created_at: now,
      })
      .execute();
    await appendOrUndo(
      this.#audit,
      {
        type: 'admin.gateway.enroll_token',
        gateway: name,
        data: { by: options.actor, name, expiresAt },
      },
      () => this.#db.deleteFrom('enroll_tokens').where('token_hash', '=', tokenHash).execute(),
    );
    return { token, name, expiresAt };
  }

  /** Enrolls a remote gateway with a one-time token; returns its id. Refusals are audited. */
  async enroll(
    token: string,
    request: GatewayPublicKeys & { readonly name: string },
  ): Promise<string> {
    const now = this.#clock();
    const id = newId('gw');
    try {
      assertName(request.name);
      checkPublicKeys(request);
      await this.#db.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom('enroll_tokens')
          .selectAll()
          .where('token_hash', '=', hashToken(token))
          .executeTakeFirst();
        if (row === undefined) throw refused('unknown-token');
        if (row.used_at !== null) throw refused('token-used');
        if (row.expires_at <= now) throw refused('token-expired');
        if (row.name !== request.name) throw refused('name-mismatch');
        await assertKeysUnused(trx, request);
        const used = await trx
          .updateTable('enroll_tokens')
          .set({ used_at: now })
          .where('token_hash', '=', row.token_hash)
          .where('used_at', 'is', null)
          .executeTakeFirst();
        if (used.numUpdatedRows !== 1n) throw refused('token-used');
        await trx
          .insertInto('gateways')
          .values(newRow(id, request, now))
          .execute();
      });
    } catch (err) {
      const reason = refusalReason(err);
      await this.#audit
        .append({
          type: 'admin.gateway.enroll',
          gateway: request.name,
          data: { outcome: 'refused', method: 'token', reason },
        })
        .catch(() => undefined); // the refusal stands whether or not it could be recorded
      throw err;
    }
    await appendOrUndo(
      this.#audit,
      {
        type: 'admin.gateway.enroll',
        gateway: request.name,
        data: {
          outcome: 'enrolled',
          method: 'token',
          gatewayId: id,
          signKeyId: signKeyIdOf(request),
        },
      },
      () => this.#db.deleteFrom('gateways').where('id', '=', id).execute(),
    );
    return id;
  }

  /**
   * Enrolls the in-process gateway (init/serve). Idempotent: the same name and keys return the
   * existing id. A revoked gateway, or the same name with other keys, is refused.
   */
  async enrollEmbedded(
    name: string,
    identity: Pick<GatewayIdentity, 'signPublicKey' | 'sealPublicKey'>,
  ): Promise<string> {
    assertName(name);
    const signKeyId = checkPublicKeys(identity);
    const existing = await this.#findByName(name);
    if (existing !== undefined) {
      if (existing.status !== 'active') {
        throw new GatehouseError('GH_GATEWAY_REJECTED', {
          hint: 'the gateway was revoked; enroll it under another gateway.name',
          detail: `gateway ${name} is revoked`,
        });
      }
      if (
        existing.signPublicKey !== identity.signPublicKey ||
        existing.sealPublicKey !== identity.sealPublicKey
      ) {
        throw new GatehouseError('GH_GATEWAY_REJECTED', {
          hint: 'revoke the old gateway and choose another gateway.name',
          detail: `gateway ${name} is enrolled with other keys`,
        });
      }
      return existing.id;
    }
    const id = newId('gw');
    const now = this.#clock();
    await this.#db.transaction().execute(async (trx) => {
      await assertKeysUnused(trx, identity);
      await trx
        .insertInto('gateways')
        .values(newRow(id, { name, ...identity }, now))
        .execute();
    });
    await appendOrUndo(
      this.#audit,
      {
        type: 'admin.gateway.enroll',
        gateway: name,
        data: { outcome: 'enrolled', method: 'embedded', gatewayId: id, signKeyId },
      },
      () => this.#db.deleteFrom('gateways').where('id', '=', id).execute(),
    );
    return id;
  }

  /** Every gateway, oldest first. */
  async list(): Promise<Gateway[]> {
    const rows = await this.#db
      .selectFrom('gateways')
      .selectAll()
      .orderBy('enrolled_at')
      .orderBy('name')
      .execute();
    return rows.map(fromRow);
  }

  /** The gateway with this id, or undefined. */
  find(id: string): Promise<Gateway | undefined> {
    return findGateway(this.#db, id);
  }

  /**
   * Revokes a gateway (by id or name): it gets no new grants and no unlocks from now on.
   * Should the audit append fail, the revocation stays (it is the safe state) and
   * GH_AUDIT_WRITE_FAILED is thrown.
   */
  async revoke(idOrName: string, options: { readonly actor: string }): Promise<Gateway> {
    const gateway = (await findGateway(this.#db, idOrName)) ?? (await this.#findByName(idOrName));
    if (gateway === undefined)
      throw new GatehouseError('GH_NOT_FOUND', { message: `gateway "${idOrName}" does not exist` });
    if (gateway.status === 'revoked') {
      throw new GatehouseError('GH_INVALID_ARGUMENT', {
        message: `gateway "${gateway.name}" is already revoked`,
      });
    }
    const now = this.#clock();
    await this.#db
      .updateTable('gateways')
      .set({ status: 'revoked', revoked_at: now })
      .where('id', '=', gateway.id)
      .execute();
    try {
      await this.#audit.append({
        type: 'admin.gateway.revoke',
        gateway: gateway.id,
        data: { by: options.actor, name: gateway.name },
      });
    } catch (err) {
      throw new GatehouseError('GH_AUDIT_WRITE_FAILED', {
        detail: 'admin.gateway.revoke',
        cause: err,
      });
    }
    return { ...gateway, status: 'revoked', revokedAt: now };
  }

  async #findByName(name: string): Promise<Gateway | undefined> {
    const row = await this.#db
      .selectFrom('gateways')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row === undefined ? undefined : fromRow(row);
  }
}

/** The gateway with this id, or undefined. */
export async function findGateway(db: Kysely<Database>, id: string): Promise<Gateway | undefined> {
  const row = await db.selectFrom('gateways').selectAll().where('id', '=', id).executeTakeFirst();
  return row === undefined ? undefined : fromRow(row);
}

/** A stored public key as a KeyObject of the expected type; GH_GATEWAY_REJECTED otherwise. */
export function gatewayPublicKey(base64: string, type: 'ed25519' | 'x25519'): KeyObject {
  let key: KeyObject;
  try {
    key = parseStoredKey(base64).key;
  } catch (err) {
    throw new GatehouseError('GH_GATEWAY_REJECTED', { detail: 'bad-key', cause: err });
  }
  if (key.asymmetricKeyType !== type)
    throw new GatehouseError('GH_GATEWAY_REJECTED', { detail: 'bad-key' });
  return key;
}

/** Appends an audit event; if that fails, runs `undo` and throws GH_AUDIT_WRITE_FAILED (fail closed). */
async function appendOrUndo(
  audit: AuditWriter,
  event: AuditEventInput,
  undo: () => Promise<unknown>,
): Promise<void> {
  try {
    await audit.append(event);
  } catch (err) {
    await undo();
    throw new GatehouseError('GH_AUDIT_WRITE_FAILED', { detail: event.type, cause: err });
  }
}

function checkPublicKeys(keys: GatewayPublicKeys): string {
  const sign = gatewayPublicKey(keys.signPublicKey, 'ed25519');
  gatewayPublicKey(keys.sealPublicKey, 'x25519');
  return keyIdOf(sign);
}

function signKeyIdOf(keys: GatewayPublicKeys): string {
  return keyIdOf(gatewayPublicKey(keys.signPublicKey, 'ed25519'));
}

async function assertKeysUnused(db: Kysely<Database>, keys: GatewayPublicKeys): Promise<void> {
  const clash = await db
    .selectFrom('gateways')
    .select('id')
    .where((eb) =>
      eb.or([
        eb('sign_public_key', '=', keys.signPublicKey),
        eb('seal_public_key', '=', keys.sealPublicKey),
      ]),
    )
    .executeTakeFirst();
  if (clash !== undefined) throw refused('key-in-use');
}

function assertName(name: string): void {
  if (!GATEWAY_NAME_RE.test(name)) {
    throw new GatehouseError('GH_INVALID_ARGUMENT', {
      message: 'invalid gateway name',
      hint: 'use lower-case letters, digits, ".", "_" and "-" (at most 63)',
    });
  }
}

function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function refusalReason(err: unknown): string {
  if (!(err instanceof GatehouseError)) return 'error';
  if (err.code === 'GH_GATEWAY_REJECTED') return err.detail ?? 'refused';
  return err.code === 'GH_INVALID_ARGUMENT' ? 'invalid-request' : 'error';
}

function refused(reason: string): GatehouseError {
  return new GatehouseError('GH_GATEWAY_REJECTED', { detail: reason });
}

function newRow(
  id: string,
  keys: GatewayPublicKeys & { readonly name: string },
  now: number,
): GatewaysTable {
  return {
    id,
    name: keys.name,
    sign_public_key: keys.signPublicKey,
    seal_public_key: keys.sealPublicKey,
    status: 'active',
    enrolled_at: now,
    revoked_at: null,
  };
}

function fromRow(row: Selectable<GatewaysTable>): Gateway {
  return {
    id: row.id,
    name: row.name,
    status: row.status === 'active' ? 'active' : 'revoked',
    signPublicKey: row.sign_public_key,
    sealPublicKey: row.seal_public_key,
    signKeyId: keyIdOfStored(row.sign_public_key),
    enrolledAt: row.enrolled_at,
    revokedAt: row.revoked_at,
  };
}

function keyIdOfStored(base64: string): string {
  try {
    return parseStoredKey(base64).keyId;
  } catch {
    return 'invalid';
  }
}

/** Stored gateway keys already parsed, by their text (a few gateways, read at every login). */
const parsedKeys = new Map<string, { readonly key: KeyObject; readonly keyId: string }>();
const MAX_PARSED_KEYS = 256;

// A stored key is immutable text, so its KeyObject and id can be kept: every login reads the
// gateway (status and all) from the store, but need not parse and hash the same DER each time.
function parseStoredKey(base64: string): { readonly key: KeyObject; readonly keyId: string } {
  const known = parsedKeys.get(base64);
  if (known !== undefined) return known;
  const key = publicKeyFromBase64(base64);
  const parsed = { key, keyId: keyIdOf(key) };
  if (parsedKeys.size >= MAX_PARSED_KEYS) parsedKeys.clear();
  parsedKeys.set(base64, parsed);
  return parsed;
}
