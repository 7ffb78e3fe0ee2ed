import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addSshTarget } from '../support/ssh-target.js';
import { freePort } from '../support/sshd.js';
import {
  runSsh,
  sshOptionArgs,
  startSshWorld,
  waitUntil,
  type AuditLine,
  type SshWorld,
} from './fixture.js';

/** A TCP server on 127.0.0.1 that sends back what it receives and ends when the peer does. */
async function startEchoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address !== null ? address.port : 0 };
}

describe('channels and requests through gatehouse: what is allowed, refused and audited', () => {
  let world: SshWorld;
  let echo: { server: Server; port: number };
  let tmp: string;
  /** `ssh -F` config: every hop (the jump too) uses alice's key and no known_hosts. */
  let configPath: string;

  beforeAll(async () => {
    // The target's sshd accepts LC_GATEHOUSE, so an allowed variable can be seen arriving.
    world = await startSshWorld({ sshd: { extraConfig: { AcceptEnv: 'LC_GATEHOUSE' } } });
    // web-fw: the same sshd, added with --allow-port-forwarding.
    await addSshTarget(world, 'web-fw', { flags: ['--allow-port-forwarding'] });
    echo = await startEchoServer();
    tmp = mkdtempSync(join(tmpdir(), 'gh-channels-'));
    configPath = join(tmp, 'ssh_config');
    const options = { ...world.clientOptions(), GlobalKnownHostsFile: '/dev/null' };
    writeFileSync(
      configPath,
      `Host *\n${Object.entries(options)
        .map(([k, v]) => `  ${k} ${v}\n`)
        .join('')}`,
    );
  }, 60_000);

  afterAll(async () => {
    echo.server.close();
    rmSync(tmp, { recursive: true, force: true });
    await world[Symbol.asyncDispose]();
  });

  /** The audit events appended after `mark` (a seq), once one of type `type` is among them. */
  async function eventsAfter(mark: number, type: string): Promise<AuditLine[]> {
    return waitUntil(
      () => {
        const events = world.auditAfter(mark);
        return events.some((e) => e.type === type) ? events : undefined;
      },
      { what: `a ${type} audit event` },
    );
  }

  function lastSeq(): number {
    return world.auditAfter(0).at(-1)?.seq ?? 0;
  }

  /** `ssh -F config -p PORT ARGS…` against the bastion. */
  function bastionSsh(
    args: string[],
    options: { input?: string; env?: Record<string, string> } = {},
  ): ReturnType<typeof runSsh> {
    return runSsh(['-F', configPath, '-p', String(world.gatehouse.sshPort), ...args], options);
  }

  describe('ProxyJump (-J)', () => {
    /** `ssh -F config -J alice@bastion DESTINATION COMMAND`. */
    const viaJump = (destination: string, command: string): ReturnType<typeof runSsh> =>
      runSsh([
        '-F',
        configPath,
        '-J',
        `alice@127.0.0.1:${world.gatehouse.sshPort}`,
        destination,
        command,
      ]);

    it('the-bastion-terminates-the-inner-ssh-authenticates-alice-again-and-runs-the-command', async () => {
      const mark = lastSeq();
      const run = await viaJump('alice@web-1', 'whoami; echo via-jump');
      expect(run.stderr).toBe('');
      expect(run.stdout).toBe(`${world.sshd.account}\nvia-jump\n`);
      expect(run.code).toBe(0);
      const events = await eventsAfter(mark, 'session.end');
      // Two logins: the outer connection and the inner one carried inside it.
      expect(events.filter((e) => e.type === 'auth.success' && e.user === 'alice')).toHaveLength(2);
      const exec = events.find((e) => e.type === 'ssh.exec');
      expect(exec).toMatchObject({
        user: 'alice',
        target: 'web-1',
        data: { command: 'whoami; echo via-jump' },
      });
      const end = events.find((e) => e.type === 'session.end' && e.sid === exec?.sid);
      expect(String(end?.data['recording'])).toContain(`${exec?.sid}-1.cast`);
    });

    it('a-jump-to-a-target-alice-may-not-reach-is-refused-and-audited', async () => {
      const mark = lastSeq();
      const run = await viaJump('alice@db-9', 'whoami');
      expect(run.code).toBe(255);
      expect(run.stdout).toBe('');
      const events = await eventsAfter(mark, 'ssh.request_denied');
      expect(events.find((e) => e.type === 'ssh.request_denied')).toMatchObject({
        user: 'alice',
        data: {
          request: 'direct-tcpip',
          destination: 'db-9',
          reason: 'jump-to-unknown-or-forbidden-target',
        },
      });
    });
  });

  describe('port forwarding', () => {
    it('direct-tcpip-to-a-default-target-is-refused-and-audited', async () => {
      const mark = lastSeq();
      const run = await bastionSsh(['-W', `127.0.0.1:${echo.port}`, 'alice+web-1@127.0.0.1'], {
        input: 'ping\n',
      });
      expect(run.code).toBe(255);
      expect(run.stdout).toBe('');
      const events = await eventsAfter(mark, 'ssh.channel_denied');
      expect(events.find((e) => e.type === 'ssh.channel_denied')).toMatchObject({
        user: 'alice',
        target: 'web-1',
        data: { what: 'direct-tcpip', destination: `127.0.0.1:${echo.port}` },
      });
      expect(events.some((e) => e.type === 'ssh.port_forward')).toBe(false);
    });

    it('remote-forwarding-on-a-default-target-is-refused-and-audited', async () => {
      const mark = lastSeq();
      const run = await bastionSsh([
        '-o',
        'ExitOnForwardFailure=yes',
        '-R',
        '0:127.0.0.1:22',
        'alice+web-1@127.0.0.1',
        'echo should-not-run',
      ]);
      expect(run.code).toBe(255);
      expect(run.stderr).toContain('remote port forwarding failed');
      expect(run.stdout).not.toContain('should-not-run');
      const events = await eventsAfter(mark, 'ssh.channel_denied');
      expect(events.find((e) => e.type === 'ssh.channel_denied')).toMatchObject({
        user: 'alice',
        target: 'web-1',
        data: { what: 'tcpip-forward' },
      });
    });

    it('a-forward-without-a-target-in-the-login-is-refused-as-a-jump-to-a-non-target', async () => {
      const mark = lastSeq();
      const run = await bastionSsh(['-W', `127.0.0.1:${echo.port}`, 'alice@127.0.0.1'], {
        input: 'ping\n',
      });
      expect(run.code).toBe(255);
      expect(run.stdout).toBe('');
      const events = await eventsAfter(mark, 'ssh.request_denied');
      expect(events.find((e) => e.type === 'ssh.request_denied')?.data).toMatchObject({
        request: 'direct-tcpip',
        destination: '127.0.0.1',
      });
    });

    it('direct-tcpip-on-an-allowed-target-is-made-by-the-target-and-audited-with-byte-counts', async () => {
      const mark = lastSeq();
      const run = await bastionSsh(['-W', `127.0.0.1:${echo.port}`, 'alice+web-fw@127.0.0.1'], {
        input: 'ping\n',
      });
      expect(run.stdout).toBe('ping\n');
      expect(run.code).toBe(0);
      const events = await eventsAfter(mark, 'ssh.port_forward');
      expect(events.find((e) => e.type === 'ssh.port_forward')).toMatchObject({
        user: 'alice',
        target: 'web-fw',
        data: {
          kind: 'direct-tcpip',
          destination: `127.0.0.1:${echo.port}`,
          bytesFromClient: 5,
          bytesToClient: 5,
        },
      });
    });

    it('remote-forwarding-on-an-allowed-target-brings-connections-back-through-the-bastion', async () => {
      const remotePort = await freePort();
      const mark = lastSeq();
      // On the target: connect to the forwarded port (retrying until the listener is there), send, read back.
      const script = `for i in $(seq 50); do exec 3<>/dev/tcp/127.0.0.1/${remotePort} && break; sleep 0.1; done 2>/dev/null; printf pong >&3; timeout 5 head -c 4 <&3`;
      const run = await bastionSsh([
        '-o',
        'ExitOnForwardFailure=yes',
        '-R',
        `${remotePort}:127.0.0.1:${echo.port}`,
        'alice+web-fw@127.0.0.1',
        `bash -c '${script}'`,
      ]);
      expect(run.stdout).toBe('pong');
      expect(run.code).toBe(0);
      const events = await waitUntil(
        () => {
          const found = world.auditAfter(mark).filter((e) => e.type === 'ssh.port_forward');
          return found.length >= 2 ? found : undefined;
        },
        { what: 'both port_forward events' },
      );
      expect(events.find((e) => e.data['kind'] === 'tcpip-forward')).toMatchObject({
        target: 'web-fw',
        data: { port: remotePort },
      });
      expect(events.find((e) => e.data['kind'] === 'forwarded-tcpip')).toMatchObject({
        target: 'web-fw',
        data: {
          destination: expect.stringMatching(new RegExp(`:${remotePort}$`)),
          bytesFromClient: 4,
          bytesToClient: 4,
        },
      });
    });
  });

  describe('refused session requests do not break the session', () => {
    it('agent-forwarding-is-refused-and-audited-and-the-command-still-runs', async () => {
      const agentSocket = join(tmp, 'agent.sock');
      const agent: ChildProcess = spawn('ssh-agent', ['-D', '-a', agentSocket], {
        stdio: 'ignore',
      });
      try {
        await waitUntil(() => (existsSync(agentSocket) ? true : undefined), {
          what: 'the ssh-agent socket',
        });
        const mark = lastSeq();
        const run = await bastionSsh([
          '-A',
          '-o',
          `IdentityAgent=${agentSocket}`,
          'alice@127.0.0.1',
          'web-1 echo still-ok',
        ]);
        expect(run.stdout).toBe('still-ok\n');
        expect(run.code).toBe(0);
        const events = await eventsAfter(mark, 'ssh.request_denied');
        expect(events.find((e) => e.type === 'ssh.request_denied')).toMatchObject({
          user: 'alice',
          data: { request: 'auth-agent-req@openssh.com' },
        });
      } finally {
        agent.kill();
      }
    });

    it('x11-forwarding-is-refused-and-audited-and-the-command-still-runs', async () => {
      const mark = lastSeq();
      const run = await bastionSsh(
        [
          '-o',
          'ForwardX11=yes',
          '-o',
          'ForwardX11Trusted=yes',
          'alice@127.0.0.1',
          'web-1 echo still-ok',
        ],
        { env: { DISPLAY: ':99' } },
      );
      expect(run.stdout).toBe('still-ok\n');
      expect(run.stderr).toContain('X11 forwarding request failed');
      expect(run.code).toBe(0);
      const events = await eventsAfter(mark, 'ssh.request_denied');
      expect(events.find((e) => e.type === 'ssh.request_denied')).toMatchObject({
        user: 'alice',
        data: { request: 'x11-req' },
      });
    });

    it('only-allow-listed-environment-variables-reach-the-target-and-others-are-audited', async () => {
      const mark = lastSeq();
      const run = await world.ssh('web-1 echo "[$FOO_GATEHOUSE][$LC_GATEHOUSE]"', {
        sshOptions: { SetEnv: 'FOO_GATEHOUSE=bar-value LC_GATEHOUSE=ok' },
      });
      expect(run.stdout).toBe('[][ok]\n');
      expect(run.code).toBe(0);
      const events = await eventsAfter(mark, 'session.end');
      const denied = events.filter((e) => e.type === 'ssh.request_denied');
      expect(denied).toHaveLength(1);
      expect(denied[0]).toMatchObject({
        user: 'alice',
        data: { request: 'env', name: 'FOO_GATEHOUSE' },
      });
      expect(JSON.stringify(denied)).not.toContain('bar-value');
    });

    it('a-subsystem-other-than-sftp-is-refused-and-audited', async () => {
      const mark = lastSeq();
      const run = await bastionSsh([
        ...sshOptionArgs({ RequestTTY: 'no' }),
        '-s',
        'alice+web-1@127.0.0.1',
        'netconf',
      ]);
      expect(run.code).not.toBe(0);
      const events = await eventsAfter(mark, 'ssh.request_denied');
      expect(events.find((e) => e.type === 'ssh.request_denied')).toMatchObject({
        user: 'alice',
        target: 'web-1',
        data: { request: 'subsystem', name: 'netconf' },
      });
    });
  });
});
