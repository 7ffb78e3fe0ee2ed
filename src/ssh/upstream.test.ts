import { createServer, type Server, type Socket } from 'node:net';
import type { Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isGatehouseError } from '../core/errors.js';
import { createLogger } from '../log/index.js';
import { createSshKeyPair, type SshKeyPair } from '../../test/support/ssh-keys.js';
import {
  LEASED_TEST_PASSWORD,
  runSshClient,
  startSshd,
  type Sshd,
} from '../../test/support/sshd.js';
import { HostKeyMismatchError } from './host-keys.js';
import {
  connectUpstream,
  guardUpstreamCallback,
  type ConnectUpstreamOptions,
  type UpstreamCredential,
} from './upstream.js';

/** Runs `command` on an upstream client and collects stdout and the exit code. */
function execOn(client: Client, command: string): Promise<{ stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, stream) => {
      if (err !== undefined) {
        reject(err);
        return;
      }
      let stdout = '';
      let code: number | null = null;
      stream.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      stream.stderr.resume();
      stream.on('exit', (exitCode: number | null) => (code = exitCode));
      stream.on('close', () => resolve({ stdout, code }));
    });
  });
}

/** Resolves when the client's connection has closed. */
function closed(client: Client): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

/** A pino logger writing into an array, to see what connectUpstream logs. */
function capturingLogger(): {
  lines: Record<string, unknown>[];
  log: ReturnType<typeof createLogger>;
} {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: 'debug',
    destination: {
      write: (msg: string) => void lines.push(JSON.parse(msg) as Record<string, unknown>),
    },
  });
  return { lines, log };
}

describe('connectUpstream against a real sshd', () => {
  let sshd: Sshd;
  let ed25519: SshKeyPair;
  let rsa: SshKeyPair;
  let ecdsa: SshKeyPair;
  let stranger: SshKeyPair;
  let base: Omit<ConnectUpstreamOptions, 'credential'>;

  beforeAll(async () => {
    [sshd, ed25519, rsa, ecdsa, stranger] = await Promise.all([
      startSshd({ allowPassword: true, hostKeyTypes: ['ed25519', 'rsa'] }),
      createSshKeyPair({ type: 'ed25519' }),
      createSshKeyPair({ type: 'rsa', bits: 2048 }),
      createSshKeyPair({ type: 'ecdsa' }),
      createSshKeyPair({ type: 'ed25519' }),
    ]);
    for (const key of [ed25519, rsa, ecdsa]) sshd.authorizeKey(key.publicLine);
    await sshd.setPassword(LEASED_TEST_PASSWORD);
    base = {
      host: sshd.host,
      port: sshd.port,
      username: sshd.account,
      pinnedHostKey: sshd.hostKeyLine,
      trustOnFirstUse: false,
      connectTimeoutMs: 5_000,
      targetName: 'web-1',
    };
  });
  afterAll(async () => {
    await sshd[Symbol.asyncDispose]();
    for (const key of [ed25519, rsa, ecdsa, stranger]) key.remove();
  });

  const keyCredential = (key: SshKeyPair): Extract<UpstreamCredential, { kind: 'ssh-key' }> => ({
    kind: 'ssh-key',
    privateKey: Buffer.from(key.privateKey),
  });
  const passwordCredential = (
    password: string,
  ): Extract<UpstreamCredential, { kind: 'password' }> => ({
    kind: 'password',
    password: Buffer.from(password),
  });

  it('sshd-fixture-lets-the-openssh-client-in-with-an-authorized-key', async () => {
    const result = await runSshClient({
      host: sshd.host,
      port: sshd.port,
      user: sshd.account,
      identityPath: ed25519.privatePath,
      command: 'whoami',
    });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('gh_leased');
    expect(result.code).toBe(0);
  });

  it('leased-ed25519-key-logs-in-and-whoami-is-the-leased-account', async () => {
    const client = await connectUpstream({ ...base, credential: keyCredential(ed25519) });
    try {
      expect(await execOn(client, 'whoami')).toEqual({ stdout: 'gh_leased\n', code: 0 });
    } finally {
      client.end();
    }
  });

  it('leased-rsa-and-ecdsa-keys-log-in', async () => {
    for (const key of [rsa, ecdsa]) {
      const client = await connectUpstream({ ...base, credential: keyCredential(key) });
      expect((await execOn(client, 'whoami')).stdout).toBe('gh_leased\n');
      client.end();
    }
    expect(sshd.readLog()).toMatch(/Accepted publickey for gh_leased .* RSA SHA256:/);
  });

  it('leased-password-logs-in', async () => {
    const client = await connectUpstream({
      ...base,
      credential: passwordCredential(LEASED_TEST_PASSWORD),
    });
    try {
      expect((await execOn(client, 'whoami')).stdout).toBe('gh_leased\n');
    } finally {
      client.end();
    }
  });

  it('credential-buffer-is-zeroed-after-success-and-after-failure', async () => {
    const good = passwordCredential(LEASED_TEST_PASSWORD);
    const client = await connectUpstream({ ...base, credential: good });
    client.end();
    const key = keyCredential(ed25519);
    (await connectUpstream({ ...base, credential: key })).end();
    const bad = passwordCredential('wrong-password');
    await expect(connectUpstream({ ...base, credential: bad })).rejects.toThrow();
    for (const credential of [good, key, bad]) {
      const bytes = credential.kind === 'password' ? credential.password : credential.privateKey;
      expect(bytes.every((byte) => byte === 0)).toBe(true);
    }
  });

  it('wrong-password-is-upstream-auth-failed', async () => {
    const before = sshd.readLog().length;
    const failure: unknown = await connectUpstream({
      ...base,
      credential: passwordCredential('not-the-password'),
    }).catch((err: unknown) => err);
    expect(isGatehouseError(failure, 'GH_UPSTREAM_AUTH_FAILED')).toBe(true);
    expect(failure).toMatchObject({ message: 'the target refused the leased credential' });
    // The control for the "no login is tried" checks below: a refused login is in the log.
    expect(await sshd.connectionLog(before)).toMatch(/Failed password for gh_leased/);
  });

  it('unauthorized-key-is-upstream-auth-failed-naming-what-the-server-allows', async () => {
    await expect(
      connectUpstream({ ...base, credential: keyCredential(stranger) }),
    ).rejects.toMatchObject({
      code: 'GH_UPSTREAM_AUTH_FAILED',
      detail: expect.stringMatching(
        /publickey authentication was refused \(the server allows: publickey, password\)/,
      ) as unknown,
    });
  });

  it('unparseable-private-key-is-upstream-auth-failed-before-connecting', async () => {
    const credential = {
      kind: 'ssh-key',
      privateKey: Buffer.from('-----BEGIN NONSENSE-----'),
    } as const;
    await expect(connectUpstream({ ...base, credential })).rejects.toMatchObject({
      code: 'GH_UPSTREAM_AUTH_FAILED',
    });
    expect(credential.privateKey.every((byte) => byte === 0)).toBe(true);
  });

  it('pinned-rsa-key-of-a-server-with-several-keys-is-the-one-negotiated', async () => {
    const client = await connectUpstream({
      ...base,
      pinnedHostKey: sshd.hostKeyLines.rsa ?? '',
      credential: keyCredential(ed25519),
    });
    client.end();
  });

  it('pinned-key-of-another-server-is-a-mismatch-carrying-the-fingerprint-and-no-login-is-tried', async () => {
    const before = sshd.readLog().length;
    const credential = passwordCredential(LEASED_TEST_PASSWORD);
    const failure: unknown = await connectUpstream({
      ...base,
      pinnedHostKey: stranger.publicLine,
      trustOnFirstUse: true, // a pin wins over TOFU
      credential,
    }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(HostKeyMismatchError);
    expect(failure).toMatchObject({
      code: 'GH_UPSTREAM_HOST_KEY_MISMATCH',
      message: "the target's host key has changed",
      presentedFingerprint: sshd.hostKeyFingerprint,
      pinnedFingerprint: stranger.fingerprint,
      hint: expect.stringContaining('gatehouse target trust web-1') as unknown,
    });
    expect(credential.password.every((byte) => byte === 0)).toBe(true);
    const logged = await sshd.connectionLog(before);
    expect(logged).toMatch(/Connection from 127\.0\.0\.1/);
    expect(logged).not.toMatch(/Accepted|Failed|Invalid user|authenticating user|gh_leased/);
  });

  it('unpinned-target-without-tofu-is-refused-before-login', async () => {
    const onFirstUse = vi.fn();
    const before = sshd.readLog().length;
    await expect(
      connectUpstream({
        ...base,
        pinnedHostKey: null,
        onFirstUse,
        credential: keyCredential(ed25519),
      }),
    ).rejects.toMatchObject({
      code: 'GH_UPSTREAM_HOST_KEY_NOT_PINNED',
      message: "the target's host key is not pinned",
      hint: 'an administrator runs "gatehouse target trust web-1"',
    });
    expect(onFirstUse).not.toHaveBeenCalled();
    expect(await sshd.connectionLog(before)).not.toMatch(/Accepted|Failed|gh_leased/);
  });

  it('tofu-hands-the-host-key-line-to-onFirstUse-and-connects', async () => {
    const onFirstUse = vi.fn(() => Promise.resolve());
    const client = await connectUpstream({
      ...base,
      pinnedHostKey: null,
      trustOnFirstUse: true,
      onFirstUse,
      credential: keyCredential(ed25519),
    });
    client.end();
    expect(onFirstUse).toHaveBeenCalledExactlyOnceWith(sshd.hostKeyLine);
  });

  it('tofu-fails-closed-when-the-key-cannot-be-recorded', async () => {
    await expect(
      connectUpstream({
        ...base,
        pinnedHostKey: null,
        trustOnFirstUse: true,
        onFirstUse: () => Promise.reject(new Error('store is down')),
        credential: keyCredential(ed25519),
      }),
    ).rejects.toMatchObject({ code: 'GH_INTERNAL', detail: 'store is down' });
  });

  it('exception-in-an-unguarded-exec-callback-closes-the-connection-and-is-logged', async () => {
    const { lines, log } = capturingLogger();
    const client = await connectUpstream({ ...base, log, credential: keyCredential(ed25519) });
    const isClosed = closed(client);
    client.exec('true', () => {
      throw new Error('bug in our exec callback');
    });
    await isClosed;
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'upstream ssh error',
        err: expect.objectContaining({ message: 'bug in our exec callback' }) as unknown,
      }),
    );
  });

  it('guarded-exec-callback-reports-the-exception-and-the-connection-stays-up', async () => {
    const client = await connectUpstream({ ...base, credential: keyCredential(ed25519) });
    try {
      const reported = new Promise<unknown>((resolve) => {
        client.exec(
          'true',
          guardUpstreamCallback(() => {
            throw new Error('bug in our exec callback');
          }, resolve),
        );
      });
      expect(await reported).toMatchObject({ message: 'bug in our exec callback' });
      expect((await execOn(client, 'whoami')).stdout).toBe('gh_leased\n');
    } finally {
      client.end();
    }
  });

  it('guard-also-catches-a-rejected-async-callback', async () => {
    const onError = vi.fn();
    guardUpstreamCallback(() => Promise.reject(new Error('async bug')), onError)();
    await vi.waitFor(() =>
      expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'async bug' })),
    );
  });
});

describe('connectUpstream to targets that do not answer', () => {
  it('stopped-sshd-is-upstream-unreachable-quickly-with-host-and-port-in-the-detail', async () => {
    const sshd = await startSshd();
    await sshd.stop();
    const started = Date.now();
    const failure: unknown = await connectUpstream({
      host: sshd.host,
      port: sshd.port,
      username: sshd.account,
      credential: { kind: 'password', password: Buffer.from('x') },
      pinnedHostKey: sshd.hostKeyLine,
      trustOnFirstUse: false,
    }).catch((err: unknown) => err);
    await sshd[Symbol.asyncDispose]();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(failure).toMatchObject({
      code: 'GH_UPSTREAM_UNREACHABLE',
      message: 'the target cannot be reached',
      detail: expect.stringMatching(
        new RegExp(`127\\.0\\.0\\.1:${sshd.port}.*ECONNREFUSED`),
      ) as unknown,
    });
  });

  it('upstream-session-ends-when-the-target-drops-it-and-a-restarted-target-is-reached-again', async () => {
    await using sshd = await startSshd();
    await using key = await createSshKeyPair();
    sshd.authorizeKey(key.publicLine);
    const options: ConnectUpstreamOptions = {
      host: sshd.host,
      port: sshd.port,
      username: sshd.account,
      credential: { kind: 'ssh-key', privateKey: Buffer.from(key.privateKey) },
      pinnedHostKey: sshd.hostKeyLine,
      trustOnFirstUse: false,
    };
    const first = await connectUpstream(options);
    const isClosed = closed(first);
    // A restart keeps sessions (like systemctl restart ssh); dropping them ends ours.
    await sshd.restart();
    expect((await execOn(first, 'whoami')).stdout).toBe('gh_leased\n');
    sshd.dropConnections();
    await isClosed;
    const second = await connectUpstream({
      ...options,
      credential: { kind: 'ssh-key', privateKey: Buffer.from(key.privateKey) },
    });
    expect((await execOn(second, 'whoami')).stdout).toBe('gh_leased\n');
    second.end();
  });

  it('silent-server-is-upstream-unreachable-after-the-connect-timeout', async () => {
    const sockets: Socket[] = [];
    const server: Server = createServer((sock) => sockets.push(sock)); // accepts, never speaks
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const started = Date.now();
    try {
      await expect(
        connectUpstream({
          host: '127.0.0.1',
          port,
          username: 'gh_leased',
          credential: { kind: 'password', password: Buffer.from('x') },
          pinnedHostKey: null,
          trustOnFirstUse: true,
          connectTimeoutMs: 300,
        }),
      ).rejects.toMatchObject({
        code: 'GH_UPSTREAM_UNREACHABLE',
        detail: expect.stringContaining('stuck in key exchange') as unknown,
      });
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      for (const sock of sockets) sock.destroy();
      server.close();
    }
  });
});
