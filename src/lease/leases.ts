import { randomBytes, type KeyObject } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { canonicalJson } from '../core/canonical-json.js';
import { GatehouseError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { verifySignature, type Signer } from '../crypto/key-files.js';
import type { Database, LeasesTable } from '../store/schema.js';
import type { CredentialKind } from './credentials.js';
import { parseSealedBox, type SealedBox } from './seal.js';

// ---------------------------------------------------------------------------------------------
// The signed gateway -> control plane protocol (DESIGN.md §4). In one process the gateway calls
// the LeaseService directly with these objects; split, they travel as JSON. Either way the
// control plane trusts nothing the signature does not cover.
// ---------------------------------------------------------------------------------------------

/** What a gateway asks for: the credential of `target`, for the session `grant` names. */
export interface UnlockPayload {
  /** The session grant token. */
  readonly grant: string;
  /** Target name; must be the grant's target. */
  readonly target: string;
  /** Random, single-use (replay protection). */
  readonly nonce: string;
  /** Gateway clock, ms since the epoch; must be within {@link REQUEST_SKEW_MS} of the control plane's. */
  readonly ts: number;
}

/** An unlock request signed by the gateway's Ed25519 key over its id and payload. */
export interface SignedUnlockRequest {
  readonly payload: UnlockPayload;
  readonly gatewayId: string;
  /** base64 Ed25519 signature of {@link unlockSigningBytes}. */
  readonly signature: string;
}

/** What an unlock returns: the credential sealed to the requesting gateway for this lease. */
export interface UnlockResult {
  readonly leaseId: string;
  readonly sid: string;
  readonly credentialVersion: number;
  readonly kind: CredentialKind;
  /** The upstream (leased) account name. */
  readonly username: string;
  /** Opens only with the gateway's X25519 key and AAD = lease id. */
  readonly sealed: SealedBox;
}

/** A gateway's notice that it no longer uses a lease. */
export interface ReleasePayload {
  readonly leaseId: string;
  readonly sid: string;
  readonly ts: number;
}

/** A release signed by the gateway that holds the lease. */
export interface SignedReleaseRequest {
  readonly payload: ReleasePayload;
  readonly gatewayId: string;
  readonly signature: string;
}

/** The two control-plane calls a gateway makes; the LeaseService in one process, a client when split. */
export interface LeasePlane {
  unlock(request: SignedUnlockRequest): Promise<UnlockResult>;
  releaseLease(request: SignedReleaseRequest): Promise<void>;
}

/** Clock difference tolerated between a gateway and the control plane. */
export const REQUEST_SKEW_MS = 60_000;

const UNLOCK_PREFIX = 'gatehouse-unlock-request.v1\n';
const RELEASE_PREFIX = 'gatehouse-lease-release.v1\n';
const NONCE_RE = /^[A-Za-z0-9_-]{16,128}$/;

/** A fresh request nonce (128 random bits, base64url). */
export function newRequestNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** The bytes a gateway signs for an unlock: a domain prefix and canonical JSON of `{gatewayId, payload}`. */
export function unlockSigningBytes(gatewayId: string, payload: UnlockPayload): Buffer {
  return Buffer.from(UNLOCK_PREFIX + canonicalJson({ gatewayId, payload }), 'utf8');
}

/** The bytes a gateway signs for a release. */
export function releaseSigningBytes(gatewayId: string, payload: ReleasePayload): Buffer {
  return Buffer.from(RELEASE_PREFIX + canonicalJson({ gatewayId, payload }), 'utf8');
}

/** Signs an unlock request with the gateway's key. */
export function signUnlockRequest(
  signer: Signer,
  gatewayId: string,
  payload: UnlockPayload,
): SignedUnlockRequest {
  return { payload, gatewayId, signature: signer.sign(unlockSigningBytes(gatewayId, payload)) };
}

/** Signs a release request with the gateway's key. */
export function signReleaseRequest(
  signer: Signer,
  gatewayId: string,
  payload: ReleasePayload,
): SignedReleaseRequest {
  return { payload, gatewayId, signature: signer.sign(releaseSigningBytes(gatewayId, payload)) };
}

/** True when the gateway key signed this unlock request exactly. */
export function isUnlockSignedBy(request: SignedUnlockRequest, publicKey: KeyObject): boolean {
  return verifySignature(
    publicKey,
    unlockSigningBytes(request.gatewayId, request.payload),
    request.signature,
  );
}

/** True when the gateway key signed this release request exactly. */
export function isReleaseSignedBy(request: SignedReleaseRequest, publicKey: KeyObject): boolean {
  return verifySignature(
    publicKey,
    releaseSigningBytes(request.gatewayId, request.payload),
    request.signature,
  );
}

/** Checks an unlock request field by field (it may come off the wire); GH_GATEWAY_REJECTED when malformed. */
export function parseUnlockRequest(value: unknown): SignedUnlockRequest {
  const { payload, gatewayId, signature } = signedParts(value);
  const p = exactRecord(payload, 'grant,nonce,target,ts');
  const { grant, target, nonce, ts } = p;
  if (!isShortText(grant, 4096) || !isShortText(target, 256))
    throw malformed('grant and target must be strings');
  if (typeof nonce !== 'string' || !NONCE_RE.test(nonce)) throw malformed('bad nonce');
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts)) throw malformed('bad ts');
  return { payload: { grant, target, nonce, ts }, gatewayId, signature };
}

/** Checks a release request field by field; GH_GATEWAY_REJECTED when malformed. */
export function parseReleaseRequest(value: unknown): SignedReleaseRequest {
  const { payload, gatewayId, signature } = signedParts(value);
  const { leaseId, sid, ts } = exactRecord(payload, 'leaseId,sid,ts');
  if (!isShortText(leaseId, 256) || !isShortText(sid, 256))
    throw malformed('leaseId and sid must be strings');
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts)) throw malformed('bad ts');
  return { payload: { leaseId, sid, ts }, gatewayId, signature };
}

/** Checks an unlock result (it may come off the wire); GH_CRYPTO_FAILED when malformed. */
export function parseUnlockResult(value: unknown): UnlockResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new GatehouseError('GH_CRYPTO_FAILED', { detail: 'unlock result: not an object' });
  }
  const { leaseId, sid, credentialVersion, kind, username, sealed } = value as Record<
    string,
    unknown
  >;
  if (!isShortText(leaseId, 256) || !isShortText(sid, 256) || typeof username !== 'string') {
    throw new GatehouseError('GH_CRYPTO_FAILED', { detail: 'unlock result: bad ids' });
  }
  if (
    typeof credentialVersion !== 'number' ||
    !Number.isSafeInteger(credentialVersion) ||
    (kind !== 'password' && kind !== 'ssh-key')
  ) {
    throw new GatehouseError('GH_CRYPTO_FAILED', { detail: 'unlock result: bad version or kind' });
  }
  return { leaseId, sid, credentialVersion, kind, username, sealed: parseSealedBox(sealed) };
}

// ---------------------------------------------------------------------------------------------
// Lease rows: which credential version a session's gateway holds, from unlock to release.
// ---------------------------------------------------------------------------------------------

/** A lease: ties a credential version, a session, its user and the gateway that holds it. */
export interface Lease {
  readonly id: string;
  readonly credentialId: string;
  readonly credentialVersion: number;
  readonly sid: string;
  readonly user: string;
  readonly gatewayId: string;
  readonly issuedAt: number;
  readonly releasedAt: number | null;
}

/** What a new lease names; the id comes from {@link newLeaseId} (the sealed box is bound to it). */
export type NewLease = Omit<Lease, 'releasedAt'>;

/** A fresh lease id. */
export function newLeaseId(): string {
  return newId('lse');
}

/** The `leases` table. */
export class Leases {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Writes a new lease row and returns it. */
  async create(input: NewLease): Promise<Lease> {
    const lease: Lease = { ...input, releasedAt: null };
    await this.#db
      .insertInto('leases')
      .values({
        id: lease.id,
        credential_id: lease.credentialId,
        credential_version: lease.credentialVersion,
        sid: lease.sid,
        user_name: lease.user,
        gateway_id: lease.gatewayId,
        issued_at: lease.issuedAt,
        released_at: null,
      })
      .execute();
    return lease;
  }

  /** The lease with this id, or undefined. */
  async find(id: string): Promise<Lease | undefined> {
    const row = await this.#db
      .selectFrom('leases')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : fromRow(row);
  }

  /** A session's leases not yet released, oldest first. */
  async openForSession(sid: string): Promise<Lease[]> {
    const rows = await this.#db
      .selectFrom('leases')
      .selectAll()
      .where('sid', '=', sid)
      .where('released_at', 'is', null)
      .orderBy('issued_at')
      .orderBy('id')
      .execute();
    return rows.map(fromRow);
  }

  /** Every lease of a session, oldest first. */
  async forSession(sid: string): Promise<Lease[]> {
    const rows = await this.#db
      .selectFrom('leases')
      .selectAll()
      .where('sid', '=', sid)
      .orderBy('issued_at')
      .orderBy('id')
      .execute();
    return rows.map(fromRow);
  }

  /** Marks a lease released; false when it already was (or does not exist). */
  async release(id: string, at: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('leases')
      .set({ released_at: at })
      .where('id', '=', id)
      .where('released_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Deletes a lease row that never took effect (its unlock could not be audited). */
  async discard(id: string): Promise<void> {
    await this.#db.deleteFrom('leases').where('id', '=', id).execute();
  }
}

function fromRow(row: Selectable<LeasesTable>): Lease {
  return {
    id: row.id,
    credentialId: row.credential_id,
    credentialVersion: row.credential_version,
    sid: row.sid,
    user: row.user_name,
    gatewayId: row.gateway_id,
    issuedAt: row.issued_at,
    releasedAt: row.released_at,
  };
}

function signedParts(value: unknown): { payload: unknown; gatewayId: string; signature: string } {
  const { payload, gatewayId, signature } = exactRecord(value, 'gatewayId,payload,signature');
  if (!isShortText(gatewayId, 256) || !isShortText(signature, 256))
    throw malformed('gatewayId and signature must be strings');
  return { payload, gatewayId, signature };
}

function exactRecord(value: unknown, fields: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw malformed('not an object');
  const record = value as Record<string, unknown>;
  if (Object.keys(record).sort().join(',') !== fields) throw malformed('unexpected fields');
  return record;
}

function isShortText(value: unknown, max: number): value is string {
  return typeof value === 'string' && value !== '' && value.length <= max;
}

function malformed(detail: string): GatehouseError {
  return new GatehouseError('GH_GATEWAY_REJECTED', { detail: `malformed request: ${detail}` });
}
