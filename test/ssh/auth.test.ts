import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base32Decode, totpCode, totpStepAt } from '../../src/identity/totp.js';
import { createSshKeyPair, type SshKeyPair } from '../support/ssh-keys.js';
import {
  spawnPty,
  sshOptionArgs,
  startSshWorld,
  waitUntil,
  type AuditLine,
  type SshWorld,
} from './fixture.js';

const ALICE_PASSWORD = 'alice-Passw0rd-e2e';
const CAROL_PASSWORD = 'carol-Passw0rd-e2e';
const DENIED =
  /^[a-z+:@.0-9-]+: Permission denied \(publickey,password,keyboard-interactive\)\.\r?\n$/;

/** How one login attempt with the ssh2 client went; once in, it ran `web-1 whoami`. */
interface Attempt {
  readonly isReady: boolean;
  readonly whoami: string;
}

/** Logs in with the ssh2 client (any auth config); on success runs `web-1 whoami` and disconnects. */
function tryLogin(
  port: number,
  config: ssh2.ConnectConfig,
  onKeyboard?: (prompts: ssh2.Prompt[]) => string[],
): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let isReady = false;
    let whoami = '';
    const timer = setTimeout(() => {
      client.destroy();
      reject(new Error('the login attempt neither succeeded nor failed in 15 s'));
    }, 15_000);
    client.on('ready', () => {
      isReady = true;
      client.exec('web-1 whoami', (err, stream) => {
        if (err !== undefined) return client.end();
        stream.on('data', (chunk: Buffer) => (whoami += chunk.toString()));
        stream.on('close', () => client.end());
      });
    });
    client.on('error', () => undefined); // the outcome is what `close` reports
    client.on('close', () => {
      clearTimeout(timer);
      resolve({ isReady, whoami: whoami.trim() });
    });
    if (onKeyboard !== undefined)
      client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) =>
        finish(onKeyboard(prompts)),
      );
    client.connect({ host: '127.0.0.1', port, readyTimeout: 15_000, ...config });
  });
}

/** A copy of a parsed private key whose `sign` is replaced (ssh2 signs with `key.sign(data, hash)`). */
function withSign(
  key: ssh2.ParsedKey,
  sign: (data: Buffer, hash?: string) => Buffer | Error,
): ssh2.ParsedKey {
  const copy = Object.assign(
    Object.create(Object.getPrototypeOf(key) as object) as ssh2.ParsedKey,
    key,
  );
  // ssh2 checks for an Error at run time; its typings only allow a Buffer.
  copy.sign = ((data: string | Buffer, hash?: string) =>
    sign(Buffer.from(data), hash)) as unknown as ssh2.ParsedKey['sign'];
  return copy;
}

function publicKeyMethod(username: string, key: ssh2.ParsedKey): ssh2.PublicKeyAuthMethod {
  return { type: 'publickey', username, key };
}

function parseKey(pair: SshKeyPair): ssh2.ParsedKey {
  const key = ssh2.utils.parseKey(pair.privateKey);
  if (key instanceof Error || Array.isArray(key))
    throw new Error(`cannot parse ${pair.privatePath}`);
  return key;
}

describe('ssh authentication and access through gatehouse', () => {
  let world: SshWorld;
  let port: number;
  const keys: Record<'stranger' | 'bob' | 'dave' | 'erin', SshKeyPair> = {} as Record<
    'stranger' | 'bob' | 'dave' | 'erin',
    SshKeyPair
  >;
  let bobSecret: Buffer;

  beforeAll(async () => {
    world = await startSshWorld();
    port = world.gatehouse.sshPort;
    const { gatehouse } = world;
    for (const name of ['stranger', 'bob', 'dave', 'erin'] as const)
      keys[name] = await createSshKeyPair({ comment: `${name}@laptop` });
    // Independent CLI runs in parallel: each costs a second or more of process start-up.
    const addWithGrant = async (name: 'bob' | 'dave' | 'erin'): Promise<void> => {
      await gatehouse.cli(['user', 'add', name, '--ssh-key', keys[name].publicPath]);
      await gatehouse.cli(['grant', name, 'web-1', '--for', '1h']);
    };
    const [enrolled] = await Promise.all([
      addWithGrant('bob').then(() => gatehouse.cli(['user', 'totp', 'bob'])),
      addWithGrant('dave'),
      addWithGrant('erin'),
      gatehouse.cli(['user', 'add', 'carol', '--password-stdin'], { stdin: `${CAROL_PASSWORD}\n` }),
      gatehouse.cli(['user', 'passwd', 'alice', '--password-stdin'], {
        stdin: `${ALICE_PASSWORD}\n`,
      }),
    ]);
    const secret = base32Decode(/[?&]secret=([A-Z2-7]+)/.exec(enrolled.stdout)?.[1] ?? '');
    if (secret === undefined || secret.length === 0)
      throw new Error(`no secret in ${enrolled.stdout}`);
    bobSecret = secret;
  }, 90_000);

  afterAll(async () => {
    for (const pair of Object.values(keys)) pair.remove();
    await world[Symbol.asyncDispose]();
  });

  function lastSeq(): number {
    return world.auditAfter().at(-1)?.seq ?? 0;
  }

  /** The first audit event after `mark` matching `match`, waiting for it. */
  function auditedAfter(
    mark: number,
    match: (e: AuditLine) => boolean,
    what: string,
  ): Promise<AuditLine> {
    return waitUntil(() => world.auditAfter(mark).find(match), { what });
  }

  describe('public keys', () => {
    it('a-key-not-registered-to-alice-is-refused-and-audited', async () => {
      const mark = lastSeq();
      const run = await world.ssh('web-1 whoami', { key: keys.stranger });
      expect(run.code).toBe(255);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(DENIED);
      const failure = await auditedAfter(mark, (e) => e.type === 'auth.failure', 'auth.failure');
      expect(failure).toMatchObject({
        user: 'alice',
        clientAddr: '127.0.0.1',
        data: {
          method: 'ssh-publickey',
          reason: 'no-accepted-key',
          fingerprints: [keys.stranger.fingerprint],
        },
      });
    });

    it('an-unknown-user-gets-exactly-the-same-refusal', async () => {
      const mark = lastSeq();
      const known = await world.ssh('web-1 whoami', { key: keys.stranger });
      const unknown = await world.ssh('web-1 whoami', { login: 'mallory' });
      expect(unknown.code).toBe(255);
      expect(unknown.stderr.replace('mallory@', 'alice@')).toBe(known.stderr);
      const failure = await auditedAfter(
        mark,
        (e) => e.type === 'auth.failure' && e.user === 'mallory',
        'auth.failure',
      );
      expect(failure).toMatchObject({ user: 'mallory', data: { reason: 'no-accepted-key' } });
    });

    it('ssh-publickey-unsigned-or-badly-signed-offer-is-refused', async () => {
      const alice = parseKey(world.alice);
      const stranger = parseKey(keys.stranger);
      const forgeries: Record<string, ssh2.ParsedKey> = {
        'no signature at all (only the PK_OK query)': withSign(
          alice,
          () => new Error('will not sign'),
        ),
        'an empty signature': withSign(alice, () => Buffer.alloc(0)),
        'a garbage signature': withSign(alice, () => Buffer.alloc(64, 0x5a)),
        'a signature over other data': withSign(alice, (data, hash) =>
          alice.sign(Buffer.concat([data, Buffer.from('x')]), hash),
        ),
        "a signature made with another person's key": withSign(alice, (data, hash) =>
          stranger.sign(data, hash),
        ),
      };
      const mark = lastSeq();
      for (const [what, key] of Object.entries(forgeries)) {
        const attempt = await tryLogin(port, {
          username: 'alice',
          authHandler: [publicKeyMethod('alice', key)],
        });
        expect({ what, isReady: attempt.isReady }).toEqual({ what, isReady: false });
      }
      // The four signed forgeries reached the control plane and were audited as failures.
      const failures = world
        .auditAfter(mark)
        .filter(
          (e) =>
            e.type === 'auth.failure' && e.user === 'alice' && e.data['method'] === 'ssh-publickey',
        );
      expect(failures.length).toBeGreaterThanOrEqual(4);
      expect(world.auditAfter(mark).some((e) => e.type === 'auth.success')).toBe(false);
      // The genuine key still works afterwards.
      const genuine = await tryLogin(port, {
        username: 'alice',
        privateKey: world.alice.privateKey,
      });
      expect(genuine).toEqual({ isReady: true, whoami: world.sshd.account });
    });
  });

  describe('passwords', () => {
    it('password-login-works-and-a-wrong-password-is-refused-and-audited', async () => {
      expect(await tryLogin(port, { username: 'alice', password: ALICE_PASSWORD })).toEqual({
        isReady: true,
        whoami: world.sshd.account,
      });
      const mark = lastSeq();
      expect(
        (await tryLogin(port, { username: 'alice', password: 'not-the-password' })).isReady,
      ).toBe(false);
      const failure = await auditedAfter(mark, (e) => e.type === 'auth.failure', 'auth.failure');
      expect(failure).toMatchObject({
        user: 'alice',
        data: { method: 'ssh-password', reason: 'bad-password' },
      });
      expect(JSON.stringify(world.auditAfter(mark))).not.toContain('not-the-password');
    });

    it('the-openssh-client-logs-in-with-a-password-typed-at-its-prompt', async () => {
      const options = {
        ...world.clientOptions(),
        BatchMode: 'no',
        PubkeyAuthentication: 'no',
        PreferredAuthentications: 'password',
      };
      const client = spawnPty(
        'ssh',
        [
          '-F',
          '/dev/null',
          '-p',
          String(port),
          ...sshOptionArgs(options),
          'alice@127.0.0.1',
          'web-1',
          'whoami',
        ],
        { cols: 80, rows: 24 },
      );
      await client.waitFor(/password: $/, { timeoutMs: 15_000 });
      client.write(`${ALICE_PASSWORD}\r`);
      expect(await client.waitExit(15_000)).toBe(0);
      expect(client.output()).toContain(world.sshd.account);
      expect(client.output()).not.toContain(ALICE_PASSWORD);
    });

    it('after-five-wrong-passwords-even-the-right-one-is-refused', async () => {
      const mark = lastSeq();
      for (let i = 0; i < 5; i += 1)
        expect((await tryLogin(port, { username: 'carol', password: `wrong-${i}` })).isReady).toBe(
          false,
        );
      const lockout = await auditedAfter(mark, (e) => e.type === 'auth.lockout', 'auth.lockout');
      expect(lockout).toMatchObject({ user: 'carol', data: { failures: 5 } });
      expect((await tryLogin(port, { username: 'carol', password: CAROL_PASSWORD })).isReady).toBe(
        false,
      );
      const locked = await auditedAfter(
        lockout.seq,
        (e) => e.type === 'auth.failure',
        'the refusal of the right password',
      );
      expect(locked).toMatchObject({ user: 'carol', data: { reason: 'locked' } });
    });
  });

  describe('TOTP as a second factor', () => {
    const codeNow = (): string => totpCode(bobSecret, totpStepAt(Date.now()));

    it('the-key-alone-is-not-enough', async () => {
      expect(
        (await tryLogin(port, { username: 'bob', privateKey: keys.bob.privateKey })).isReady,
      ).toBe(false);
      const run = await world.ssh('web-1 whoami', { login: 'bob', key: keys.bob });
      expect(run.code).toBe(255);
      expect(run.stdout).toBe('');
    });

    it('a-wrong-code-is-refused-and-audited', async () => {
      const step = totpStepAt(Date.now());
      const valid = new Set([-2, -1, 0, 1, 2].map((d) => totpCode(bobSecret, step + d)));
      const wrong = ['000000', '111111', '222222'].find((c) => !valid.has(c)) ?? '333333';
      const mark = lastSeq();
      const prompts: string[] = [];
      const attempt = await tryLogin(
        port,
        { username: 'bob', privateKey: keys.bob.privateKey, tryKeyboard: true },
        (asked) => {
          prompts.push(...asked.map((p) => p.prompt));
          return [wrong];
        },
      );
      expect(attempt.isReady).toBe(false);
      expect(prompts).toEqual(['Verification code: ']);
      const failure = await auditedAfter(mark, (e) => e.type === 'auth.failure', 'auth.failure');
      expect(failure).toMatchObject({ user: 'bob', data: { reason: 'bad-totp' } });
    });

    it('key-plus-the-current-code-logs-in-and-the-same-code-cannot-be-used-again', async () => {
      const code = codeNow();
      const first = await tryLogin(
        port,
        { username: 'bob', privateKey: keys.bob.privateKey, tryKeyboard: true },
        () => [code],
      );
      expect(first).toEqual({ isReady: true, whoami: world.sshd.account });
      const replay = await tryLogin(
        port,
        { username: 'bob', privateKey: keys.bob.privateKey, tryKeyboard: true },
        () => [code],
      );
      expect(replay.isReady).toBe(false);
    });
  });

  describe('access that ends while a session runs', () => {
    it('revoking-the-grant-ends-a-live-session-within-seconds', async () => {
      const shell = world.sshPty(['web-1', 'echo started; sleep 60'], {
        login: 'erin',
        key: keys.erin,
      });
      await shell.waitFor('started', { timeoutMs: 15_000 });
      const grants = (await world.gatehouse.cli(['grant', 'list', '--json'])).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { id: string; subject: string });
      const grant = grants.find((g) => g.subject === 'erin');
      expect(grant).toBeDefined();
      const mark = lastSeq();
      await world.gatehouse.cli(['revoke', grant?.id ?? '']);
      const revokedAt = Date.now();
      // The watcher re-checks access every 2 s.
      expect(await shell.waitExit(10_000)).not.toBe(0);
      expect(Date.now() - revokedAt).toBeLessThan(7_000);
      const end = await auditedAfter(
        mark,
        (e) => e.type === 'session.end' && e.user === 'erin',
        'session.end',
      );
      expect(end).toMatchObject({ target: 'web-1', data: { status: 'terminated' } });
      const again = await world.ssh('web-1 whoami', { login: 'erin', key: keys.erin });
      expect(again.code).toBe(255);
      expect(again.stderr).toContain('gatehouse: access denied');
    });

    it('disabling-the-user-ends-a-live-session-and-refuses-new-logins', async () => {
      const shell = world.sshPty(['web-1'], { login: 'dave', key: keys.dave });
      await shell.waitFor(/\$ /, { timeoutMs: 15_000 });
      const mark = lastSeq();
      await world.gatehouse.cli(['user', 'disable', 'dave']);
      const disabledAt = Date.now();
      expect(await shell.waitExit(10_000)).not.toBe(0);
      expect(Date.now() - disabledAt).toBeLessThan(7_000);
      const end = await auditedAfter(
        mark,
        (e) => e.type === 'session.end' && e.user === 'dave',
        'session.end',
      );
      expect(end).toMatchObject({ target: 'web-1', data: { status: 'terminated' } });
      const again = await world.ssh('web-1 whoami', { login: 'dave', key: keys.dave });
      expect(again.code).toBe(255);
      expect(again.stderr).toMatch(DENIED);
      const failure = await auditedAfter(end.seq, (e) => e.type === 'auth.failure', 'auth.failure');
      expect(failure).toMatchObject({
        user: 'dave',
        data: { fingerprints: [keys.dave.fingerprint] },
      });
      // Password logins are refused too, whatever the password.
      expect(
        (await tryLogin(port, { username: 'dave', privateKey: keys.dave.privateKey })).isReady,
      ).toBe(false);
    });
  });
});
