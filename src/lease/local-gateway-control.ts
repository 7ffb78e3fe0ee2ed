import type { Kysely } from 'kysely';
import type { AuditEventInput, AuditWriter } from '../audit/types.js';
import type { Authenticator } from '../identity/authenticate.js';
import type { Users } from '../identity/users.js';
import type { AccessPolicy, ReachableTarget } from '../policy/access.js';
import type { Targets } from '../policy/targets.js';
import type { Database } from '../store/schema.js';
import type { LeaseService } from './control-plane.js';
import type { GatewayClient, LeasedCredential } from './gateway-client.js';
import type {
  ClientContext,
  GatewayControl,
  GatewayUser,
  ScramHandshake,
  SessionEnd,
  TargetSession,
} from './gateway-control.js';
import { SessionWatch } from './session-watch.js';
import type { UserProof } from './user-proof.js';

/** What the in-process gateway control is built from. */
export interface LocalGatewayControlDeps {
  readonly db: Kysely<Database>;
  readonly service: LeaseService;
  readonly client: GatewayClient;
  readonly authenticator: Authenticator;
  readonly users: Users;
  readonly access: AccessPolicy;
  readonly targets: Targets;
  readonly audit: AuditWriter;
}

/**
 * The gateway's view of the control plane when both run in one process (`gatehouse serve`):
 * the same calls, and the same checks, as a remote gateway would make over the network. The
 * credential still goes through the dual key: a grant for this gateway, an unlock request
 * signed with its key, the secret sealed to it.
 */
export class LocalGatewayControl implements GatewayControl {
  readonly #deps: LocalGatewayControlDeps;
  readonly #watch: SessionWatch;

  constructor(deps: LocalGatewayControlDeps) {
    this.#deps = deps;
    this.#watch = new SessionWatch({ db: deps.db, access: deps.access });
  }

  get gatewayId(): string {
    return this.#deps.client.id;
  }

  isKeyAcceptable(user: string, key: { algo: string; blob: Buffer }): Promise<boolean> {
    return this.#deps.authenticator.isPublicKeyAcceptable(user, key);
  }

  async needsTotp(user: string): Promise<boolean> {
    return (await this.#deps.users.find(user))?.hasTotp === true;
  }

  authenticate(proof: UserProof, ctx: ClientContext): Promise<GatewayUser> {
    return this.#deps.service.authenticate({
      proof,
      gatewayId: this.gatewayId,
      clientAddr: ctx.clientAddr,
      via: ctx.via,
    });
  }

  async startScram(user: string, ctx: ClientContext): Promise<ScramHandshake> {
    const exchange = await this.#deps.service.startScram({
      user,
      gatewayId: this.gatewayId,
      clientAddr: ctx.clientAddr,
      via: ctx.via,
    });
    return {
      start: (clientFirst) => exchange.start(clientFirst),
      finish: async (clientFinal) => {
        const done = await exchange.finish(clientFinal);
        return { user: { user: done.user, ticket: done.ticket }, serverFinal: done.serverFinal };
      },
    };
  }

  reachable(user: GatewayUser): Promise<ReachableTarget[]> {
    return this.#deps.access.reachable(user.user);
  }

  async openSession(user: GatewayUser, target: string, ctx: ClientContext): Promise<TargetSession> {
    const authorized = await this.#deps.service.authorize({
      ticket: user.ticket,
      target,
      gatewayId: this.gatewayId,
      clientAddr: ctx.clientAddr,
      via: ctx.via,
      ...(ctx.targetKind === undefined ? {} : { kind: ctx.targetKind }),
    });
    // The session's leases are released by endSession, with `session.end`, in one transaction
    // (one disk sync); the gateway only forgets its copy of the secret.
    const end = async (sessionEnd: SessionEnd, credential?: LeasedCredential): Promise<void> => {
      credential?.secret.fill(0);
      await this.#watch.forget(authorized.sid).catch(() => undefined);
      const recordings = sessionEnd.recordings ?? [];
      await this.#deps.service.endSession(authorized.sid, {
        status: sessionEnd.status,
        reason: sessionEnd.reason,
        recording: recordings.length === 0 ? null : JSON.stringify(recordings.map((r) => r.path)),
        recordingSha256:
          recordings.length === 0 ? null : JSON.stringify(recordings.map((r) => r.sha256)),
        ...(sessionEnd.stats === undefined ? {} : { stats: sessionEnd.stats }),
      });
    };
    let credential;
    try {
      credential = await this.#deps.client.unlockCredential(authorized.grantToken);
    } catch (err) {
      await end({ status: 'failed', reason: 'unlock-failed' }).catch(() => undefined);
      throw err;
    }
    const signal = this.#watch.watch(authorized.sid, authorized.user.name, authorized.target.name);
    let isEnded = false;
    const leased = credential;
    return {
      sid: authorized.sid,
      user: authorized.user,
      target: authorized.target,
      accessExpiresAt: authorized.accessExpiresAt,
      credential: leased,
      signal,
      end: async (sessionEnd) => {
        if (isEnded) return;
        isEnded = true;
        await end(sessionEnd, leased);
      },
    };
  }

  async pinHostKeyOnFirstUse(target: string, line: string, fingerprint: string): Promise<void> {
    await this.#deps.targets.pinHostKey(target, line, {
      actor: `gateway:${this.gatewayId}`,
      fingerprint,
    });
  }

  async audit(event: AuditEventInput): Promise<void> {
    await this.#deps.audit.append({ gateway: this.gatewayId, ...event });
  }

  async auditBatch(events: readonly AuditEventInput[]): Promise<void> {
    if (events.length === 0) return;
    const audit = this.#deps.audit;
    if (audit.appendBatch !== undefined) {
      // A group commit: one disk sync for the statements of every session meanwhile.
      await audit.appendBatch(events.map((event) => ({ gateway: this.gatewayId, ...event })));
      return;
    }
    // One transaction, so one commit (fsync) for the lot; the chain stays in event order.
    await this.#deps.db.transaction().execute(async (trx) => {
      for (const event of events)
        await this.#deps.audit.append({ gateway: this.gatewayId, ...event }, { trx });
    });
  }
}
