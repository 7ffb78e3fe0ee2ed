import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFailedSessions, startFaultWorld, type FaultWorld, type PtyShell } from './world.js';

/** Seconds each blackholed target is given (its `connect_timeout` label); the default is 10. */
const CONNECT_TIMEOUT_S = 3;
const LABELS = { connect_timeout: String(CONNECT_TIMEOUT_S) };

// Targets that never answer: one whose TCP connect never completes (a listener whose accept
// queue is full drops SYNs, as a firewall does) and one that accepts and then never speaks. For
// SSH, PostgreSQL and MySQL targets the client hears which target did not answer once the
// target's connect timeout passed (the message names the configured time: the timeout, not a
// refusal, ended it); the session ends `failed` with its lease released; others carry on.
describe('faults: blackholed targets (connect hangs, connected but silent)', () => {
  let world: FaultWorld;
  let hanging: Blackhole;
  let silent: SilentServer;
  let bobShell: PtyShell;

  beforeAll(async () => {
    [world, hanging, silent] = await Promise.all([
      startFaultWorld(),
      startBlackhole(),
      startSilentServer(),
    ]);
    for (const [suffix, port] of [
      ['hang', hanging.port],
      ['silent', silent.port],
    ] as const) {
      await world.addSshTarget(`web-${suffix}`, {}, world.sshd, { port, labels: LABELS });
      for (const kind of ['postgres', 'mysql'] as const)
        await world.addDbTarget(`${kind === 'postgres' ? 'pg' : 'my'}-${suffix}`, {
          kind,
          host: '127.0.0.1',
          port,
          username: 'leased',
          password: 'unused-pw-1',
          database: 'app',
          labels: LABELS,
        });
    }
    bobShell = await world.shell('web-1', { key: world.bob });
  }, 180_000);

  afterAll(async () => {
    bobShell?.kill();
    hanging?.stop();
    await silent?.stop();
    await world?.[Symbol.asyncDispose]();
  });

  for (const kind of ['hang', 'silent'] as const) {
    it(`ssh-to-a-${kind}-target-says-it-did-not-answer-in-time-and-records-a-failed-session`, async () => {
      const target = `web-${kind}`;
      const run = await world.ssh(`${target} uptime`);
      expect(run.code).toBe(255);
      expect(run.stderr).toContain(
        `gatehouse: target "${target}" did not answer within ${CONNECT_TIMEOUT_S} s`,
      );
      expect(run.stderr).toContain('the target may be down or out of reach');
      expect(run.stderr).not.toMatch(/at .*\.js:\d+|Error:|127\.0\.0\.1/);
      await expectFailedSessions(world, target);
    }, 180_000);

    it(`psql-and-pg-to-a-${kind}-target-get-08006-naming-the-target`, async () => {
      const target = `pg-${kind}`;
      const message = `target "${target}" did not answer within ${CONNECT_TIMEOUT_S} s`;
      const run = await world.psql(target, ['-c', 'select 1']);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain(message);
      const client = world.pgClient(target);
      const err = (await client.connect().then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: string; message?: string };
      await client.end().catch(() => undefined);
      expect(err.code).toBe('08006');
      expect(err.message).toBe(message);
      await expectFailedSessions(world, target, 2);
    }, 180_000);

    it(`mariadb-and-mysql2-to-a-${kind}-target-get-error-1105-naming-the-target`, async () => {
      const target = `my-${kind}`;
      const message = `target "${target}" did not answer within ${CONNECT_TIMEOUT_S} s`;
      const run = await world.mariadb(target, ['-e', 'select 1']);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain(`ERROR 1105 (08S01): ${message}`);
      const err = (await world.mysqlConnect(target).then(
        async (c) => {
          await c.end();
          return undefined;
        },
        (e: unknown) => e,
      )) as { errno?: number; message?: string };
      expect(err.errno).toBe(1105);
      expect(err.message).toContain(message);
      await expectFailedSessions(world, target, 2);
    }, 180_000);
  }

  it('bob-carries-on-new-sessions-work-and-the-chain-verifies', async () => {
    await bobShell.run('echo bob-still-here-$((6*7))', 'bob-still-here-42');
    const run = await world.ssh('web-1 echo alice-ok');
    expect(run.stdout.trim()).toBe('alice-ok');
    // The blackholes are still there: they held connections, not Gatehouse's attention.
    expect(silent.accepted).toBeGreaterThan(0);
    expect((await world.verify()).stdout).toContain('audit chain OK');
  }, 180_000);
});

/** A loopback port whose TCP connects never complete. */
interface Blackhole {
  readonly port: number;
  stop(): void;
}

/**
 * A listener with a tiny accept queue in a process that never calls accept (its event
 * loop is blocked), the queue filled: Linux then drops further SYNs, so connects hang as they
 * do towards a firewall that drops packets. Checked before use: a probe must not connect.
 */
async function startBlackhole(): Promise<Blackhole> {
  const script = `
    const s = require('node:net').createServer();
    s.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
      process.stdout.write(s.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    });`;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const fillers: Socket[] = [];
  const stop = (): void => {
    for (const socket of fillers) socket.destroy();
    child.kill('SIGKILL');
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout?.setEncoding('utf8').once('data', (line: string) => resolve(Number(line)));
      child.once('exit', (code) => reject(new Error(`blackhole exited with ${code}`)));
    });
    for (let i = 0; i < 4; i += 1) {
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('error', () => undefined);
      fillers.push(socket);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Fixture check (not a test of Gatehouse): a new connect must still be pending.
    const probe = connect({ host: '127.0.0.1', port });
    probe.on('error', () => undefined);
    const isConnected = await new Promise<boolean>((resolve) => {
      probe.once('connect', () => resolve(true));
      setTimeout(() => resolve(false), 1_500);
    });
    probe.destroy();
    if (isConnected) throw new Error('the blackhole accepted a connection: SYNs are not dropped');
    return { port, stop };
  } catch (err) {
    stop();
    throw err;
  }
}

/** A TCP server that accepts and never sends a byte. */
interface SilentServer {
  readonly port: number;
  readonly accepted: number;
  stop(): Promise<void>;
}

async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    get accepted() {
      return accepted;
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
