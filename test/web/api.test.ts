import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { base32Decode, totpCode, totpStepAt } from '../../src/identity/totp.js';
import { startSshWorld, type SshWorld } from '../ssh/fixture.js';
import { auditEvents, WebClient } from './client.js';

// One real `gatehouse serve` in front of a real sshd for the whole file; users of each role.
const PASSWORD = 'correct horse battery staple';
let world: SshWorld;
let aliceSid = '';
const as: Record<string, WebClient> = {};

async function signedIn(user: string): Promise<WebClient> {
  const client = new WebClient(world.gatehouse);
  await client.login(user, PASSWORD);
  return client;
}

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly permission: string;
}

async function operations(): Promise<Operation[]> {
  const doc = (await new WebClient(world.gatehouse).call('GET', '/api/openapi.json')).json as {
    paths: Record<string, Record<string, { 'x-permission': string }>>;
  };
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      permission: op['x-permission'],
    })),
  );
}

// A concrete URL for an operation: path parameters get values that exist where it matters.
// Changes aim at names that do not exist, so the sweep cannot damage the fixture.
function concrete(path: string, method: string): string {
  return path
    .replace('{sid}', aliceSid)
    .replace('{channel}', '0')
    .replace('{name}', method === 'GET' ? 'web-1' : 'no-such-name')
    .replace('{id}', 'gr_nothing');
}

const ROLE_CAN: Record<string, (permission: string) => boolean> = {
  user: (p) => p === 'self' || p === 'public',
  auditor: (p) => !['admin.write', 'sessions.terminate'].includes(p),
  admin: () => true,
};

beforeAll(async () => {
  world = await startSshWorld();
  const { gatehouse } = world;
  for (const [name, roles] of [
    ['admin', []],
    ['alice', []],
    ['bob', ['user']],
    ['audrey', ['auditor', 'user']],
    ['carol', ['user']],
  ] as const) {
    if (name !== 'admin' && name !== 'alice')
      await gatehouse.cli(['user', 'add', name, ...roles.flatMap((r) => ['--role', r])]);
    await gatehouse.cli(['user', 'passwd', name, '--password-stdin'], { stdin: `${PASSWORD}\n` });
  }
  const run = await world.ssh('web-1 echo hello-from-web-1');
  expect(run.stdout).toContain('hello-from-web-1');
  for (const user of ['admin', 'alice', 'bob', 'audrey']) as[user] = await signedIn(user);
  const list = await as['alice']?.call('GET', '/api/sessions');
  aliceSid = String((list?.json['sessions'] as { sid: string }[])[0]?.sid);
}, 90_000);

afterAll(async () => {
  await world[Symbol.asyncDispose]();
});

describe('web API over HTTPS', () => {
  it('every-route-refuses-anonymous-callers-except-login-health-and-openapi', async () => {
    const anonymous = new WebClient(world.gatehouse);
    const ops = await operations();
    expect(ops.length).toBeGreaterThan(35);
    for (const op of ops) {
      const res = await anonymous.call(op.method, concrete(op.path, op.method), { body: {} });
      if (op.permission === 'public') expect(res.status, `${op.method} ${op.path}`).not.toBe(401);
      else
        expect([res.status, res.json.code], `${op.method} ${op.path}`).toEqual([
          401,
          'GH_AUTH_REQUIRED',
        ]);
    }
  });

  it('every-route-enforces-its-permission-for-user-auditor-and-admin', async () => {
    const ops = await operations();
    for (const [user, role] of [
      ['alice', 'user'],
      ['audrey', 'auditor'],
      ['admin', 'admin'],
    ] as const) {
      const client = as[user];
      if (client === undefined) throw new Error('no client');
      for (const op of ops) {
        if (op.path === '/api/auth/logout') continue; // would end the shared session
        const res = await client.call(op.method, concrete(op.path, op.method), { body: {} });
        const isAllowed = ROLE_CAN[role]?.(op.permission) === true;
        if (isAllowed)
          expect([res.status, res.json.code], `${user} ${op.method} ${op.path}`).not.toEqual([
            403,
            'GH_FORBIDDEN',
          ]);
        else
          expect([res.status, res.json.code], `${user} ${op.method} ${op.path}`).toEqual([
            403,
            'GH_FORBIDDEN',
          ]);
      }
    }
  });

  it('a-user-sees-only-their-own-sessions-and-cannot-open-another-users', async () => {
    const bob = as['bob'] as WebClient;
    expect((await bob.call('GET', '/api/sessions')).json['sessions']).toEqual([]);
    expect((await bob.call('GET', '/api/sessions?user=alice')).json['sessions']).toEqual([]);
    for (const path of [
      `/api/sessions/${aliceSid}`,
      `/api/sessions/${aliceSid}/recordings/0`,
      `/api/sessions/${aliceSid}/transcript`,
    ]) {
      const res = await bob.call('GET', path);
      expect([res.status, res.json.code], path).toEqual([404, 'GH_NOT_FOUND']);
    }
    const own = await (as['alice'] as WebClient).call('GET', `/api/sessions/${aliceSid}`);
    expect(own.status).toBe(200);
    expect((own.json['commands'] as { command: string }[]).map((c) => c.command)).toContain(
      'echo hello-from-web-1',
    );
    const recordings = own.json['recordings'] as { channel: number }[];
    expect(recordings.length).toBeGreaterThan(0);
    const cast = await (as['alice'] as WebClient).call(
      'GET',
      `/api/sessions/${aliceSid}/recordings/${recordings[0]?.channel ?? 0}`,
    );
    expect(cast.headers['content-type']).toContain('application/x-asciicast');
    expect(cast.text.split('\n')[0]).toContain('"version":3');
    expect(cast.text).toContain('hello-from-web-1');
  });

  it('an-auditor-reads-every-session-and-the-audit-chain-but-changes-nothing', async () => {
    const audrey = as['audrey'] as WebClient;
    const list = await audrey.call('GET', '/api/sessions?user=alice');
    expect((list.json['sessions'] as { sid: string }[]).map((s) => s.sid)).toContain(aliceSid);
    const search = await audrey.call('GET', '/api/sessions?q=HELLO-FROM');
    expect((search.json['sessions'] as { sid: string }[]).map((s) => s.sid)).toEqual([aliceSid]);
    expect((await audrey.call('GET', '/api/sessions?q=no-such-command')).json['sessions']).toEqual(
      [],
    );
    const verify = await audrey.call('GET', '/api/audit/verify');
    expect(verify.json).toMatchObject({ ok: true });
    for (const [method, path] of [
      ['POST', '/api/admin/grants'],
      ['POST', `/api/sessions/${aliceSid}/terminate`],
      ['DELETE', '/api/admin/targets/web-1'],
    ] as const) {
      expect(
        (await audrey.call(method, path, { body: { subject: 'audrey', scope: 'web-1' } })).status,
        path,
      ).toBe(403);
    }
  });

  it('cookie-sessions-need-the-csrf-token-and-same-origin-for-changes', async () => {
    const admin = as['admin'] as WebClient;
    const body = { name: 'ops', description: 'operators' };
    expect((await admin.call('POST', '/api/admin/roles', { body, omitCsrf: true })).json.code).toBe(
      'GH_CSRF_REJECTED',
    );
    expect(
      (
        await admin.call('POST', '/api/admin/roles', {
          body,
          headers: { origin: 'https://evil.example' },
        })
      ).json.code,
    ).toBe('GH_CSRF_REJECTED');
    expect(
      (
        await admin.call('POST', '/api/admin/roles', {
          body,
          headers: { 'sec-fetch-site': 'cross-site' },
        })
      ).json.code,
    ).toBe('GH_CSRF_REJECTED');
    const ok = await admin.call('POST', '/api/admin/roles', {
      body,
      headers: { origin: admin.origin },
    });
    expect(ok.status).toBe(204);
  });

  it('login-sets-a-host-only-httponly-secure-samesite-strict-cookie-and-security-headers', async () => {
    const client = new WebClient(world.gatehouse);
    const res = await client.call('POST', '/api/auth/login', {
      body: { user: 'bob', password: PASSWORD },
    });
    const cookie = [res.headers['set-cookie'] ?? []].flat().join(';');
    expect(cookie).toMatch(/^__Host-gatehouse=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/Secure/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\//);
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['strict-transport-security']).toContain('max-age');
    expect(res.headers['cache-control']).toBe('no-store');
    await client.login('bob', PASSWORD);
    expect((await client.call('POST', '/api/auth/logout')).status).toBe(204);
    expect((await client.call('GET', '/api/auth/me')).status).toBe(401);
  });

  it('failed-logins-look-alike-and-lock-the-account-like-the-other-front-ends', async () => {
    const client = new WebClient(world.gatehouse);
    const unknown = await client.call('POST', '/api/auth/login', {
      body: { user: 'nobody', password: 'x' },
    });
    const wrong = await client.call('POST', '/api/auth/login', {
      body: { user: 'carol', password: 'wrong' },
    });
    expect([unknown.status, unknown.json.code, unknown.json['title']]).toEqual([
      401,
      'GH_AUTH_FAILED',
      'permission denied',
    ]);
    expect([wrong.status, wrong.json.code, wrong.json['title']]).toEqual([
      401,
      'GH_AUTH_FAILED',
      'permission denied',
    ]);
    for (let i = 0; i < 5; i++)
      await client.call('POST', '/api/auth/login', { body: { user: 'carol', password: 'wrong' } });
    const locked = await client.call('POST', '/api/auth/login', {
      body: { user: 'carol', password: PASSWORD },
    });
    expect([locked.status, locked.json.code]).toEqual([401, 'GH_AUTH_FAILED']);
    const events = await auditEvents(world.gatehouse, 200);
    expect(events.some((e) => e.type === 'auth.lockout' && e.user === 'carol')).toBe(true);
    expect(
      events.some(
        (e) =>
          e.type === 'auth.failure' && e.user === 'carol' && e.data['method'] === 'web-password',
      ),
    ).toBe(true);
  });

  it('totp-users-need-the-code-after-the-password-and-the-ticket-is-single-use', async () => {
    const admin = as['admin'] as WebClient;
    await admin.call('POST', '/api/admin/users', { body: { name: 'dave', password: PASSWORD } });
    const enrolled = await admin.call('POST', '/api/admin/users/dave/totp');
    const secret = base32Decode(
      new URL(String(enrolled.json['otpauthUri'])).searchParams.get('secret') ?? '',
    );
    if (secret === undefined) throw new Error('no secret');
    const client = new WebClient(world.gatehouse);
    const first = await client.call('POST', '/api/auth/login', {
      body: { user: 'dave', password: PASSWORD },
    });
    expect(first.json['status']).toBe('totp-required');
    expect(first.headers['set-cookie']).toBeUndefined();
    const code = totpCode(secret, totpStepAt(Date.now()));
    const done = await client.call('POST', '/api/auth/totp', {
      body: { ticket: first.json['ticket'], code },
    });
    expect(done.json['status']).toBe('ok');
    expect((await client.call('GET', '/api/auth/me')).json['name']).toBe('dave');
    const again = await client.call('POST', '/api/auth/totp', {
      body: { ticket: first.json['ticket'], code },
    });
    expect(again.status).toBe(401);
  });

  it('personal-tokens-work-as-bearer-tokens-with-the-owners-rights-until-revoked', async () => {
    const admin = as['admin'] as WebClient;
    const created = await admin.call('POST', '/api/admin/users/alice/tokens', {
      body: { days: 1 },
    });
    const robot = new WebClient(world.gatehouse);
    robot.useToken(String(created.json['secret']));
    const access = await robot.call('GET', '/api/me/access');
    expect(
      (access.json['targets'] as { name: string; commands: { command: string }[] }[]).map(
        (t) => t.name,
      ),
    ).toEqual(['web-1']);
    expect(JSON.stringify(access.json)).toContain(
      `ssh -p ${world.gatehouse.sshPort} alice@127.0.0.1 web-1`,
    );
    expect((await robot.call('GET', '/api/admin/users')).status).toBe(403);
    expect(
      (await admin.call('DELETE', `/api/admin/tokens/${String(created.json['id'])}`)).status,
    ).toBe(204);
    expect((await robot.call('GET', '/api/me/access')).status).toBe(401);
    const bogus = new WebClient(world.gatehouse);
    bogus.useToken('ght_' + 'A'.repeat(43));
    expect((await bogus.call('GET', '/api/me/access')).json.code).toBe('GH_AUTH_FAILED');
  });

  it('admin-changes-are-audited-as-the-web-user-and-grant-revocation-ends-access', async () => {
    const admin = as['admin'] as WebClient;
    const grant = await admin.call('POST', '/api/admin/grants', {
      body: { subject: 'bob', scope: 'web-1', minutes: 30, reason: 'INC-7' },
    });
    expect(grant.json).toMatchObject({
      subject: 'bob',
      scope: 'web-1',
      isActive: true,
      reason: 'INC-7',
    });
    const bob = as['bob'] as WebClient;
    expect(((await bob.call('GET', '/api/me/access')).json['targets'] as unknown[]).length).toBe(1);
    expect(
      (await admin.call('DELETE', `/api/admin/grants/${String(grant.json['id'])}`)).status,
    ).toBe(204);
    expect(((await bob.call('GET', '/api/me/access')).json['targets'] as unknown[]).length).toBe(0);
    const events = await auditEvents(world.gatehouse, 100);
    expect(events.find((e) => e.type === 'grant.revoke')?.data['by']).toBe('web:admin');
    const bad = await admin.call('POST', '/api/admin/grants', {
      body: { subject: 'bob', scope: 'web-1', minutes: -1 },
    });
    expect([bad.status, bad.json.code]).toEqual([400, 'GH_INVALID_ARGUMENT']);
  });

  it('credentials-are-never-returned-and-host-keys-are-pinned-only-with-a-matching-fingerprint', async () => {
    const admin = as['admin'] as WebClient;
    const versions = await admin.call('GET', '/api/admin/targets/web-1/credentials');
    expect(versions.text).not.toMatch(/PRIVATE KEY|envelope|ciphertext/);
    expect((versions.json['credentials'] as unknown[]).length).toBe(1);
    const scan = await admin.call('POST', '/api/admin/targets/web-1/host-key/scan', { body: {} });
    expect(String(scan.json['fingerprint'])).toMatch(/^SHA256:/);
    const wrong = await admin.call('PUT', '/api/admin/targets/web-1/host-key', {
      body: { line: scan.json['line'], fingerprint: 'SHA256:nope' },
    });
    expect(wrong.status).toBe(400);
    const pinned = await admin.call('PUT', '/api/admin/targets/web-1/host-key', {
      body: { line: scan.json['line'], fingerprint: scan.json['fingerprint'] },
    });
    expect(pinned.json['fingerprint']).toBe(scan.json['fingerprint']);
  });

  it('the-live-view-websocket-checks-origin-sign-in-and-session-ownership', async () => {
    const url = `wss://127.0.0.1:${world.gatehouse.webPort}/api/sessions/${aliceSid}/live`;
    const attempt = (client: WebClient | undefined, origin: string): Promise<number> =>
      new Promise((resolve) => {
        const ws = new WebSocket(url, ['v3.asciicast'], {
          rejectUnauthorized: false,
          headers: {
            origin,
            ...(client?.cookie === undefined
              ? {}
              : { cookie: `__Host-gatehouse=${client.cookie}` }),
          },
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', () => resolve(-1));
      });
    const origin = (as['admin'] as WebClient).origin;
    expect(await attempt(as['admin'], 'https://evil.example')).toBe(403);
    expect(await attempt(undefined, origin)).toBe(401);
    expect(await attempt(as['bob'], origin)).toBe(404);
    expect(await attempt(as['audrey'], origin)).toBe(101);
  });

  it('the-openapi-document-is-generated-from-the-route-schemas', async () => {
    const doc = (await new WebClient(world.gatehouse).call('GET', '/api/openapi.json')).json as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            requestBody?: {
              content: Record<string, { schema: { properties?: Record<string, unknown> } }>;
            };
          }
        >
      >;
    };
    expect(doc.openapi).toBe('3.1.0');
    const login = doc.paths['/api/auth/login']?.['post'];
    expect(
      Object.keys(login?.requestBody?.content['application/json']?.schema.properties ?? {}),
    ).toEqual(['user', 'password']);
  });
});
