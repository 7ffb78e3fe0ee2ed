import { randomBytes } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import type { Tally } from './tally.js';
import type { SoakWorld } from './world.js';

/** Longest wait for one SSH step (login, a command, a copy) on a loaded machine. */
const STEP_TIMEOUT_MS = 120_000;
/** Bytes of each file copied up and back over SFTP. */
const COPY_BYTES = 16 * 1024;
/** Every how many rounds a session copies a file (from its first round on: short runs copy too). */
const COPY_EVERY = 4;

/** One worker of the load: opens its session, works until told to stop, closes. */
export interface LoadWorker {
  /** Opens the session; false when it failed (counted in the tally). */
  open(): Promise<boolean>;
  /** One round of operations. */
  work(round: number): Promise<void>;
  /** Closes the session (counted in the tally). */
  close(): Promise<void>;
}

/**
 * A long SSH session through Gatehouse with the ssh2 client, the way people use one: an
 * interactive shell (pty) held open for the whole session, typed commands producing output,
 * exec channels beside it, and now and then a small file copied up and back over SFTP. The
 * shell keeps the target session open, so all channels share one Gatehouse session.
 */
export function sshSessionWorker(world: SoakWorld, tally: Tally, id: number): LoadWorker {
  const client = new ssh2.Client();
  client.on('error', () => undefined); // failures surface through the operation that saw them
  let shell: ClientChannel | undefined;
  let output = '';
  let waiter: { readonly text: string; readonly found: () => void } | undefined;
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));

  const typeCommand = async (n: number): Promise<void> => {
    if (shell === undefined) throw new Error('no shell');
    // The marker is computed by the shell: the echo of what was typed does not contain it.
    const marker = `soak-${id}-${n + 1000}`;
    output = '';
    const found = new Promise<void>(
      (resolve) => (waiter = { text: `${marker}\r\n`, found: resolve }),
    );
    shell.write(`seq 1 30 | tr '\\n' ' '; echo; echo soak-${id}-$((${n}+1000))\r`);
    await withTimeout(found, `shell output ${marker}`);
  };

  return {
    open: () =>
      tally
        .run('ssh.open', async () => {
          await new Promise<void>((resolve, reject) => {
            client.once('ready', () => resolve());
            client.once('error', reject);
            client.connect({
              host: '127.0.0.1',
              port: world.gatehouse.sshPort,
              username: `alice+${world.targets.ssh}`,
              privateKey: world.key.privateKey,
              readyTimeout: STEP_TIMEOUT_MS,
              // The soak does not pin Gatehouse's host key; tests of that are elsewhere.
              hostVerifier: () => true,
            });
          });
          shell = await new Promise<ClientChannel>((resolve, reject) => {
            client.shell({ term: 'xterm', cols: 120, rows: 40 }, (err, channel) =>
              err === undefined ? resolve(channel) : reject(err),
            );
          });
          shell.on('data', (chunk: Buffer) => {
            output += chunk.toString('latin1');
            if (waiter !== undefined && output.includes(waiter.text)) {
              waiter.found();
              waiter = undefined;
            }
          });
          shell.stderr.on('data', () => undefined);
          await typeCommand(0);
          return {
            'auth.success': 1,
            'session.start': 1,
            'credential.unlock': 1,
            'ssh.shell': 1,
            'ssh.command': 1,
          };
        })
        .then((ok) => {
          if (!ok) client.end();
          return ok;
        }),
    work: async (round) => {
      await tally.run('ssh.exec', async () => {
        const run = await exec(
          client,
          `echo exec-${id}-${round}; head -c 3000 /dev/zero | tr '\\0' x | wc -c`,
        );
        if (run.code !== 0 || run.stdout !== `exec-${id}-${round}\n3000\n`)
          throw new Error(
            `exec: code ${String(run.code)}, output ${JSON.stringify(run.stdout.slice(0, 200))}`,
          );
        return { 'ssh.exec': 1 };
      });
      await tally.run('ssh.shell-command', async () => {
        await typeCommand(round + 1);
        return { 'ssh.command': 1 };
      });
      if (round % COPY_EVERY === 1) {
        await tally.run('ssh.sftp-copy', async () => {
          await copyRoundTrip(client, `soak-${id}-${round}.bin`);
          return { 'ssh.subsystem': 1, 'sftp.open': 2, 'sftp.close': 2, 'sftp.remove': 1 };
        });
      }
    },
    close: async () => {
      await tally.run('ssh.close', async () => {
        const channel = shell;
        if (channel !== undefined) {
          const shellClosed = new Promise<void>((resolve) =>
            channel.once('close', () => resolve()),
          );
          channel.write('exit\r');
          await withTimeout(shellClosed, 'shell exit');
        }
        client.end();
        await withTimeout(closed, 'connection close');
        // `exit` is a typed command line too.
        return { 'ssh.command': 1, 'lease.release': 1, 'session.end': 1 };
      });
    },
  };
}

/** Runs a command on its own channel; resolves with its stdout and exit code. */
function exec(
  client: ssh2.Client,
  command: string,
): Promise<{ stdout: string; code: number | null }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      client.exec(command, (err, channel) => {
        if (err !== undefined) return reject(err);
        let stdout = '';
        let code: number | null = null;
        channel.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
        channel.stderr.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
        channel.once('exit', (c: number | null) => (code = c));
        channel.once('close', () => resolve({ stdout, code }));
      });
    }),
    `exec ${command.slice(0, 40)}`,
  );
}

/** Writes a random file over SFTP, reads it back, compares, and removes it. */
async function copyRoundTrip(client: ssh2.Client, name: string): Promise<void> {
  const sftp = await withTimeout(
    new Promise<SFTPWrapper>((resolve, reject) =>
      client.sftp((err, s) => (err === undefined ? resolve(s) : reject(err))),
    ),
    'sftp channel',
  );
  try {
    const data = randomBytes(COPY_BYTES);
    await withTimeout(
      new Promise<void>((resolve, reject) =>
        sftp.writeFile(name, data, (err) =>
          err === undefined || err === null ? resolve() : reject(err),
        ),
      ),
      'sftp write',
    );
    const back = await withTimeout(
      new Promise<Buffer>((resolve, reject) =>
        sftp.readFile(name, (err, b) =>
          err === undefined || err === null ? resolve(b) : reject(err),
        ),
      ),
      'sftp read',
    );
    if (!back.equals(data)) throw new Error(`sftp: ${name} came back different`);
    await withTimeout(
      new Promise<void>((resolve, reject) =>
        sftp.unlink(name, (err) => (err === undefined || err === null ? resolve() : reject(err))),
      ),
      'sftp remove',
    );
  } finally {
    const ended = new Promise<void>((resolve) => sftp.once('close', () => resolve()));
    sftp.end();
    await withTimeout(ended, 'sftp close');
  }
}

/** `promise`, or a rejection after the step timeout. */
export function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
