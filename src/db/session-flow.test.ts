import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEventInput } from '../audit/types.js';
import { GatehouseError } from '../core/errors.js';
import { DEFAULT_TARGET_OPTIONS, type Target } from '../core/types.js';
import type {
  GatewayControl,
  GatewayUser,
  SessionEnd,
  TargetSession,
} from '../lease/gateway-control.js';
import { DbTranscriptStore } from '../recording/db-transcript.js';
import { runDbSession, type DbRelayContext, type DbTransport } from './session-flow.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const USER: GatewayUser = {
  user: {
    id: 'u1',
    name: 'alice',
    roles: ['user'],
    isDisabled: false,
    hasTotp: false,
    createdAt: 0,
  },
  ticket: 't',
};
const TARGET: Target = {
  id: 't1',
  name: 'orders-db',
  kind: 'postgres',
  host: 'h',
  port: 1,
  username: 'leased',
  database: 'app',
  labels: {},
  options: DEFAULT_TARGET_OPTIONS,
  hostKey: null,
  createdAt: 0,
};

/** A control plane that records what the flow asked of it. */
function fakeControl(options: { failOpen?: GatehouseError } = {}) {
  const steps: string[] = [];
  const events: AuditEventInput[] = [];
  const ends: SessionEnd[] = [];
  const secret = Buffer.from('leased-secret');
  const abort = new AbortController();
  const control = {
    gatewayId: 'gw',
    openSession: (
      _user: GatewayUser,
      target: string,
      ctx: { via: string; targetKind?: string },
    ) => {
      steps.push(`openSession ${target} ${ctx.via} ${ctx.targetKind ?? ''}`);
      if (options.failOpen !== undefined) return Promise.reject(options.failOpen);
      const session: TargetSession = {
        sid: 'ses_flow',
        user: USER.user,
        target: TARGET,
        accessExpiresAt: null,
        credential: {
          leaseId: 'l',
          sid: 'ses_flow',
          credentialVersion: 1,
          kind: 'password',
          username: 'leased',
          secret,
          release: () => Promise.resolve(),
          [Symbol.asyncDispose]: () => Promise.resolve(),
        },
        signal: abort.signal,
        end: (end) => {
          ends.push(end);
          return Promise.resolve();
        },
      };
      return Promise.resolve(session);
    },
    authenticate: () => {
      steps.push('check proof');
      return Promise.resolve(USER);
    },
    audit: (event: AuditEventInput) => {
      events.push(event);
      return Promise.resolve();
    },
    auditBatch: (batch: readonly AuditEventInput[]) => {
      events.push(...batch);
      return Promise.resolve();
    },
  } as unknown as GatewayControl;
  return { control, steps, events, ends, secret, abort };
}

/** A transport that records the steps and relays one statement. */
function fakeTransport(
  loginName: string,
  steps: string[],
  options: {
    failConnect?: GatehouseError;
    stopped?: boolean;
    leavesWhileConnecting?: boolean;
    /** Has the control plane check a password proof, as the real transports do. */
    checksProof?: boolean;
  } = {},
): DbTransport<string> {
  let isGone = false;
  return {
    protocol: 'postgres',
    dialect: 'postgres',
    clientAddr: '192.0.2.9',
    loginName,
    authenticate: (user, checks) => {
      steps.push(`authenticate ${user}`);
      if (options.checksProof !== true) return Promise.resolve(USER);
      const proof = { kind: 'password', user, password: 'pw', nonce: 'n', ts: 0 } as const;
      return checks.authenticate(proof, { clientAddr: '192.0.2.9', via: 'postgres' });
    },
    connectUpstream: (session) => {
      steps.push(`connect ${session.credential.secret.toString()}`);
      if (options.leavesWhileConnecting === true) isGone = true;
      return options.failConnect === undefined
        ? Promise.resolve('upstream')
        : Promise.reject(options.failConnect);
    },
    makeReady: () => {
      steps.push('ready');
      return Promise.resolve();
    },
    relay: (_up, ctx: DbRelayContext) => {
      steps.push('relay');
      ctx.auditor.recordStatement({ mode: 'simple', sql: 'select 1', durationMs: 1, rows: 1 });
      return Promise.resolve({
        reason: 'client-closed',
        status: 'ended',
        bytesFromClient: 10,
        bytesToClient: 20,
      });
    },
    sendError: (error) => {
      steps.push(`error ${error.code}`);
      return Promise.resolve();
    },
    close: () => void steps.push('close'),
    isClientGone: () => isGone,
  };
}

function transcripts(): DbTranscriptStore {
  const dir = mkdtempSync(join(tmpdir(), 'gh-flow-'));
  dirs.push(dir);
  return new DbTranscriptStore(dir);
}

const log = pino({ level: 'silent' });

describe('database session flow', () => {
  it('runs-the-steps-in-order-zeroes-the-credential-and-ends-with-counts', async () => {
    const fx = fakeControl();
    const steps: string[] = [];
    await runDbSession(fakeTransport('alice#orders-db', steps), {
      control: fx.control,
      transcripts: transcripts(),
      log,
    });
    expect([...fx.steps, ...steps]).toEqual([
      'openSession orders-db postgres postgres',
      'authenticate alice',
      'connect leased-secret',
      'ready',
      'relay',
      'close',
    ]);
    expect(fx.secret.every((b) => b === 0)).toBe(true);
    expect(fx.events.map((e) => e.type)).toEqual(['session.start', 'db.query']);
    expect(fx.ends).toEqual([
      expect.objectContaining({
        status: 'ended',
        reason: 'client-closed',
        stats: {
          bytesFromClient: 10,
          bytesToClient: 20,
          statements: 1,
          errors: 0,
          denied: 0,
          cancels: 0,
        },
        recordings: [
          expect.objectContaining({ path: expect.stringMatching(/ses_flow\.db\.ndjson$/) }),
        ],
      }),
    ]);
  });

  it('a-login-without-a-target-is-refused-before-authentication', async () => {
    const fx = fakeControl();
    const steps: string[] = [];
    await runDbSession(fakeTransport('alice', steps), {
      control: fx.control,
      transcripts: transcripts(),
      log,
    });
    expect(steps).toEqual(['error GH_INVALID_ARGUMENT', 'close']);
  });

  it('a-denied-session-says-so-and-opens-nothing', async () => {
    const fx = fakeControl({ failOpen: new GatehouseError('GH_ACCESS_DENIED') });
    const steps: string[] = [];
    await runDbSession(fakeTransport('alice#orders-db', steps), {
      control: fx.control,
      transcripts: transcripts(),
      log,
    });
    expect(steps).toEqual(['authenticate alice', 'error GH_ACCESS_DENIED', 'close']);
    expect(fx.events).toEqual([]);
  });

  it('a-target-that-cannot-be-reached-ends-the-session-as-failed-and-zeroes-the-credential', async () => {
    const fx = fakeControl();
    const steps: string[] = [];
    await runDbSession(
      fakeTransport('alice#orders-db', steps, {
        failConnect: new GatehouseError('GH_UPSTREAM_UNREACHABLE'),
      }),
      { control: fx.control, transcripts: transcripts(), log },
    );
    expect(steps.slice(-2)).toEqual(['error GH_UPSTREAM_UNREACHABLE', 'close']);
    expect(fx.secret.every((b) => b === 0)).toBe(true);
    expect(fx.ends).toEqual([{ status: 'failed', reason: 'GH_UPSTREAM_UNREACHABLE' }]);
  });

  it('a-client-that-left-while-the-session-opened-gets-no-session-start-and-a-failed-end', async () => {
    const fx = fakeControl();
    const steps: string[] = [];
    await runDbSession(fakeTransport('alice#orders-db', steps, { leavesWhileConnecting: true }), {
      control: fx.control,
      transcripts: transcripts(),
      log,
    });
    expect(steps).toEqual([
      'authenticate alice',
      'connect leased-secret',
      'error GH_CLIENT_GONE',
      'close',
    ]);
    expect(fx.events).toEqual([]);
    expect(fx.ends).toEqual([{ status: 'failed', reason: 'GH_CLIENT_GONE' }]);
    expect(fx.secret.every((b) => b === 0)).toBe(true);
  });

  it('a-dedicated-listener-takes-the-plain-user-name', async () => {
    const fx = fakeControl();
    const steps: string[] = [];
    await runDbSession(fakeTransport('alice', steps), {
      control: fx.control,
      transcripts: transcripts(),
      log,
      fixedTarget: 'orders-db',
    });
    expect(fx.steps).toEqual(['openSession orders-db postgres postgres']);
  });

  it('the-control-planes-check-of-the-proof-runs-with-the-login-deadline-stopped', async () => {
    const fx = fakeControl();
    const steps: string[] = [];
    await runDbSession(fakeTransport('alice#orders-db', steps, { checksProof: true }), {
      control: fx.control,
      transcripts: transcripts(),
      log,
      whileChecking: async (work) => {
        fx.steps.push('deadline stopped');
        try {
          return await work();
        } finally {
          fx.steps.push('deadline running');
        }
      },
      onAuthenticated: () => void fx.steps.push('authenticated'),
    });
    expect(fx.steps).toEqual([
      'deadline stopped',
      'check proof',
      'deadline running',
      'authenticated',
      'openSession orders-db postgres postgres',
    ]);
  });
});
