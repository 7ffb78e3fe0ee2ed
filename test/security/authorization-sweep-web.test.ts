import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSshKeyPair, type SshKeyPair } from '../support/ssh-keys.js';
import { startSshWorld, waitUntil, type AuditLine, type SshWorld } from '../ssh/fixture.js';
import { WebClient } from '../web/client.js';

// Authorization sweep, web console and API: what a person reaches there is their own sessions
// and recordings (history, kept whatever happens to their grants) and "My access" (what they may
// reach now, with the commands to do it). For no grant, an expired grant and a revoked grant:
// "My access" lists nothing. For a disabled user: the console session and the token stop
// working at once, on every route that reaches sessions, recordings or the live view, and a new
// login is refused and audited. For a locked-out user: the password and the token are refused
// and audited. Each with its positive control.
const PASSWORD = 'web-sweep-Passw0rd';
let world: SshWorld;
let key: SshKeyPair;
let sid = '';

interface WebUser {
  readonly cookie: WebClient;
  readonly token: WebClient;
}

async function addWebUser(name: string, options: { grant?: string } = {}): Promise<WebUser> {
  const { gatehouse } = world;
  await gatehouse.cli(['user', 'add', name, '--ssh-key', key.publicPath]);
  await gatehouse.cli(['user', 'passwd', name, '--password-stdin'], { stdin: `${PASSWORD}\n` });
  if (options.grant !== undefined)
    await gatehouse.cli(['grant', name, 'web-1', '--for', options.grant]);
  const secret = /ght_[A-Za-z0-9_-]+/.exec(
    (await gatehouse.cli(['token', 'create', name, '--for', '1h'])).stdout,
  )?.[0];
  if (secret === undefined) throw new Error('no token secret printed');
  const cookie = new WebClient(gatehouse);
  await cookie.login(name, PASSWORD);
  const token = new WebClient(gatehouse);
  token.useToken(secret);
  return { cookie, token };
}

async function reachable(client: WebClient): Promise<string[]> {
  const res = await client.call('GET', '/api/me/access');
  expect(res.status).toBe(200);
  return (res.json['targets'] as { name: string }[]).map((t) => t.name);
}

/** The status of each route that reaches the user's sessions, recordings and live view. */
async function sessionRoutes(client: WebClient, ownSid: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const path of [
    '/api/me/access',
    '/api/sessions',
    `/api/sessions/${ownSid}`,
    `/api/sessions/${ownSid}/recordings/1`,
  ])
    out[path] = (await client.call('GET', path)).status;
  return out;
}

function liveStatus(client: WebClient, ownSid: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(
      `wss://127.0.0.1:${world.gatehouse.webPort}/api/sessions/${ownSid}/live`,
      ['v3.asciicast'],
      {
        rejectUnauthorized: false,
        headers: {
          origin: client.origin,
          ...(client.cookie === undefined ? {} : { cookie: `__Host-gatehouse=${client.cookie}` }),
        },
      },
    );
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('error', () => resolve(-1));
  });
}

function lastSeq(): number {
  return world.auditAfter(0).at(-1)?.seq ?? 0;
}

function audited(seq: number, match: (e: AuditLine) => boolean, what: string): Promise<AuditLine> {
  return waitUntil(() => world.auditAfter(seq).find(match), { timeoutMs: 20_000, what });
}

/** Runs one recorded command on web-1 as `user`; returns the session id. */
async function recordedSession(user: string): Promise<string> {
  const seq = lastSeq();
  const run = await world.ssh('web-1 echo web-sweep', { login: user, key, timeoutMs: 60_000 });
  expect(run.stdout).toBe('web-sweep\n');
  const end = await audited(seq, (e) => e.type === 'session.end' && e.user === user, 'session.end');
  return end.sid ?? '';
}

beforeAll(async () => {
  world = await startSshWorld();
  key = await createSshKeyPair({ comment: 'web-sweep@laptop' });
}, 300_000);

afterAll(async () => {
  key?.remove();
  await world?.[Symbol.asyncDispose]();
});

describe('web authorization sweep', () => {
  it('no-grant-expired-and-revoked: my-access-lists-nothing-while-own-history-stays-readable', async () => {
    const { gatehouse } = world;
    const wendy = await addWebUser('wendy', { grant: '1h' });
    sid = await recordedSession('wendy');
    // Positive control: with the grant, "My access" offers web-1 and its connect commands.
    expect(await reachable(wendy.cookie)).toEqual(['web-1']);
    expect(await reachable(wendy.token)).toEqual(['web-1']);
    const grants = (await gatehouse.cli(['grant', 'list', '--json'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; subject: string });
    await gatehouse.cli(['revoke', grants.find((g) => g.subject === 'wendy')?.id ?? '']);
    expect(await reachable(wendy.cookie)).toEqual([]);
    expect(await reachable(wendy.token)).toEqual([]);
    // Her own history is not access to a target: still readable, by her only.
    expect(await sessionRoutes(wendy.cookie, sid)).toEqual({
      '/api/me/access': 200,
      '/api/sessions': 200,
      [`/api/sessions/${sid}`]: 200,
      [`/api/sessions/${sid}/recordings/1`]: 200,
    });
    // An expired grant and no grant at all: nothing offered either.
    await gatehouse.cli(['grant', 'wendy', 'web-1', '--for', '2s']);
    expect(await reachable(wendy.cookie)).toEqual(['web-1']);
    await waitUntil(async () => ((await reachable(wendy.cookie)).length === 0 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the grant to expire',
    });
    const nobody = await addWebUser('nadia');
    expect(await reachable(nobody.cookie)).toEqual([]);
    expect((await nobody.cookie.call('GET', '/api/sessions')).json['sessions']).toEqual([]);
    expect((await nobody.cookie.call('GET', `/api/sessions/${sid}`)).status).toBe(404);
  }, 480_000);

  it('disabled: the console session and the token stop at once on every session route, and a new login is refused and audited', async () => {
    const dora = await addWebUser('dora', { grant: '1h' });
    const own = await recordedSession('dora');
    const ok = {
      '/api/me/access': 200,
      '/api/sessions': 200,
      [`/api/sessions/${own}`]: 200,
      [`/api/sessions/${own}/recordings/1`]: 200,
    };
    expect(await sessionRoutes(dora.cookie, own)).toEqual(ok);
    expect(await sessionRoutes(dora.token, own)).toEqual(ok);
    expect(await liveStatus(dora.cookie, own)).not.toBe(401);
    const seq = lastSeq();
    await world.gatehouse.cli(['user', 'disable', 'dora']);
    const refused = {
      '/api/me/access': 401,
      '/api/sessions': 401,
      [`/api/sessions/${own}`]: 401,
      [`/api/sessions/${own}/recordings/1`]: 401,
    };
    expect(await sessionRoutes(dora.token, own)).toEqual(refused);
    expect(await sessionRoutes(dora.cookie, own)).toEqual(refused);
    expect(await liveStatus(dora.cookie, own)).toBe(401);
    const login = await new WebClient(world.gatehouse).call('POST', '/api/auth/login', {
      body: { user: 'dora', password: PASSWORD },
    });
    expect([login.status, login.json.code]).toEqual([401, 'GH_AUTH_FAILED']);
    await audited(
      seq,
      (e) =>
        e.type === 'auth.failure' &&
        e.user === 'dora' &&
        e.data['method'] === 'web-password' &&
        e.data['reason'] === 'disabled',
      'the refused login',
    );
    await audited(
      seq,
      (e) =>
        e.type === 'auth.failure' &&
        e.user === 'dora' &&
        e.data['method'] === 'web-token' &&
        e.data['reason'] === 'disabled',
      'the refused token',
    );
  }, 480_000);

  it('locked-out: the right password and the token are refused and audited as locked', async () => {
    const luke = await addWebUser('luke', { grant: '1h' });
    expect(await reachable(luke.token)).toEqual(['web-1']);
    const seq = lastSeq();
    const anonymous = new WebClient(world.gatehouse);
    for (let i = 0; i < 5; i += 1)
      expect(
        (
          await anonymous.call('POST', '/api/auth/login', {
            body: { user: 'luke', password: `wrong-${i}` },
          })
        ).status,
      ).toBe(401);
    await audited(seq, (e) => e.type === 'auth.lockout' && e.user === 'luke', 'the lockout');
    const right = await anonymous.call('POST', '/api/auth/login', {
      body: { user: 'luke', password: PASSWORD },
    });
    expect([right.status, right.json.code]).toEqual([401, 'GH_AUTH_FAILED']);
    await audited(
      seq,
      (e) =>
        e.type === 'auth.failure' &&
        e.user === 'luke' &&
        e.data['method'] === 'web-password' &&
        e.data['reason'] === 'locked',
      'the refused password',
    );
    expect((await luke.token.call('GET', '/api/me/access')).status).toBe(401);
    await audited(
      seq,
      (e) =>
        e.type === 'auth.failure' &&
        e.user === 'luke' &&
        e.data['method'] === 'web-token' &&
        e.data['reason'] === 'locked',
      'the refused token',
    );
  }, 480_000);
});
