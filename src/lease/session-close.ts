import type { Kysely, Selectable, Transaction } from 'kysely';
import type { AuditWriter } from '../audit/types.js';
import type { Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { Database, SessionsTable } from '../store/schema.js';
import { appendOrFail } from './audited.js';
import { findGateway, gatewayPublicKey } from './gateways.js';
import {
  Leases,
  REQUEST_SKEW_MS,
  isReleaseSignedBy,
  parseReleaseRequest,
  type Lease,
  type SignedReleaseRequest,
} from './leases.js';

/** How a session ended (`sessions.status`). */
export type SessionEndStatus = 'ended' | 'failed' | 'terminated' | 'abandoned';

/** Facts recorded when a session ends. */
export interface EndSessionOptions {
  readonly status: SessionEndStatus;
  readonly recording?: string | null;
  readonly recordingSha256?: string | null;
  /** Why it ended (`client-closed`, `admin-kill`, `grant-revoked`, `idle`, …), for audit. */
  readonly reason?: string;
  /** Counters the front end kept (bytes each way, statements), for `session.end`. */
  readonly stats?: Readonly<Record<string, number>>;
}

/** Dependencies of {@link SessionCloser}. */
export interface SessionCloserDeps {
  readonly db: Kysely<Database>;
  readonly audit: AuditWriter;
  readonly clock: Clock;
}

/** The session columns a `lease.release` event names. */
type SessionFacts = Pick<Selectable<SessionsTable>, 'target' | 'client_addr'>;

/**
 * Step 7 of the session flow: leases given back by their gateway, sessions ended. Each call
 * is one transaction in which the state change and its audit events commit together (one
 * disk sync), or none of it does. Each transaction starts with its write: on SQLite a read
 * first would have to be upgraded, which fails at once if another process wrote meanwhile.
 */
export class SessionCloser {
  readonly #deps: SessionCloserDeps;

  constructor(deps: SessionCloserDeps) {
    this.#deps = deps;
  }

  /** Releases a lease the signing gateway holds; idempotent. Audits `lease.release`. */
  async releaseLease(request: SignedReleaseRequest): Promise<void> {
    const { db, clock } = this.#deps;
    const now = clock();
    const parsed = parseReleaseRequest(request);
    const gateway = await findGateway(db, parsed.gatewayId);
    // A revoked gateway may still give a lease back: releasing only ever reduces access.
    if (gateway === undefined) throw rejected('unknown-gateway');
    if (!isReleaseSignedBy(parsed, gatewayPublicKey(gateway.signPublicKey, 'ed25519')))
      throw rejected('bad-signature');
    if (Math.abs(parsed.payload.ts - now) > REQUEST_SKEW_MS) throw rejected('stale-request');
    const lease = await new Leases(db).find(parsed.payload.leaseId);
    if (lease?.gatewayId !== gateway.id || lease.sid !== parsed.payload.sid)
      throw rejected('lease-not-held');
    await db.transaction().execute(async (trx) => {
      if (!(await new Leases(trx).release(lease.id, now))) return;
      const session = await trx
        .selectFrom('sessions')
        .select(['target', 'client_addr'])
        .where('sid', '=', lease.sid)
        .executeTakeFirst();
      await this.#auditRelease(trx, { lease, session, now, reason: 'released' });
    });
  }

  /**
   * Marks the session ended, releases its leases and audits `session.end`. Idempotent: a
   * session already ended is left as it is. GH_NOT_FOUND for an unknown sid.
   */
  async endSession(sid: string, options: EndSessionOptions): Promise<void> {
    const now = this.#deps.clock();
    await this.#deps.db.transaction().execute(async (trx) => {
      const session = await trx
        .updateTable('sessions')
        .set((eb) => ({
          status: options.status,
          ended_at: now,
          recording: options.recording ?? eb.ref('recording'),
          recording_sha256: options.recordingSha256 ?? eb.ref('recording_sha256'),
        }))
        .where('sid', '=', sid)
        .where('status', '=', 'active')
        .returning(['user_name', 'target', 'gateway_id', 'client_addr', 'started_at'])
        .executeTakeFirst();
      if (session === undefined) {
        const known = await trx
          .selectFrom('sessions')
          .select('sid')
          .where('sid', '=', sid)
          .executeTakeFirst();
        if (known === undefined)
          throw new GatehouseError('GH_NOT_FOUND', { message: `session ${sid} does not exist` });
        return; // ended already
      }
      const leases = new Leases(trx);
      for (const lease of await leases.openForSession(sid))
        if (await leases.release(lease.id, now))
          await this.#auditRelease(trx, { lease, session, now, reason: 'session-end' });
      await appendOrFail(
        this.#deps.audit,
        {
          type: 'session.end',
          user: session.user_name,
          sid,
          target: session.target,
          gateway: session.gateway_id,
          clientAddr: session.client_addr,
          data: {
            status: options.status,
            reason: options.reason ?? null,
            durationMs: now - session.started_at,
            recording: options.recording ?? null,
            recordingSha256: options.recordingSha256 ?? null,
            ...(options.stats === undefined ? {} : { stats: options.stats }),
          },
        },
        { trx },
      );
    });
  }

  async #auditRelease(
    trx: Transaction<Database>,
    release: {
      readonly lease: Lease;
      readonly session: SessionFacts | undefined;
      readonly now: number;
      readonly reason: string;
    },
  ): Promise<void> {
    const { lease, session, now } = release;
    await appendOrFail(
      this.#deps.audit,
      {
        type: 'lease.release',
        user: lease.user,
        sid: lease.sid,
        target: session?.target ?? null,
        gateway: lease.gatewayId,
        clientAddr: session?.client_addr ?? null,
        data: {
          leaseId: lease.id,
          credentialId: lease.credentialId,
          version: lease.credentialVersion,
          reason: release.reason,
          heldMs: now - lease.issuedAt,
        },
      },
      { trx },
    );
  }
}

function rejected(reason: string): GatehouseError {
  return new GatehouseError('GH_GATEWAY_REJECTED', { detail: `release refused: ${reason}` });
}
