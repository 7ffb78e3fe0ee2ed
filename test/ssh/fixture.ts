import { createSshKeyPair, type SshKeyPair } from '../support/ssh-keys.js';
import { runSshClient, startSshd, type Sshd, type SshClientResult } from '../support/sshd.js';
import { startGatehouse, type RunningGatehouse } from '../support/gatehouse.js';

/** A Gatehouse in front of a real sshd, with user alice granted target web-1. */
export interface SshWorld extends AsyncDisposable {
  readonly gatehouse: RunningGatehouse;
  readonly sshd: Sshd;
  readonly alice: SshKeyPair;
  /** Runs the real `ssh` client through Gatehouse as `login` (default `alice`). */
  ssh(command: string | undefined, options?: { login?: string; input?: string; sshOptions?: Record<string, string>; key?: SshKeyPair }): Promise<SshClientResult>;
}

/** Starts sshd + Gatehouse, adds alice (ed25519 key) and web-1 with a generated leased key, pinned. */
export async function startSshWorld(options: { targetFlags?: string[]; grant?: boolean } = {}): Promise<SshWorld> {
  const sshd = await startSshd();
  const gatehouse = await startGatehouse();
  const alice = await createSshKeyPair({ type: 'ed25519', comment: 'alice@laptop' });
  await gatehouse.cli(['user', 'add', 'alice', '--ssh-key', alice.publicPath]);
  await gatehouse.cli(['target', 'add', 'web-1', '--kind', 'ssh', '--host', sshd.host, '--port', String(sshd.port), '--username', sshd.account, ...(options.targetFlags ?? [])]);
  const generated = await gatehouse.cli(['credential', 'set', 'web-1', '--generate-ssh-key']);
  sshd.authorizeKey(generated.stdout.trim());
  await gatehouse.cli(['target', 'trust', 'web-1']);
  if (options.grant !== false) await gatehouse.cli(['grant', 'alice', 'web-1', '--for', '1h']);
  return {
    gatehouse,
    sshd,
    alice,
    ssh: (command, o = {}) =>
      runSshClient({
        host: '127.0.0.1',
        port: gatehouse.sshPort,
        user: o.login ?? 'alice',
        identityPath: (o.key ?? alice).privatePath,
        ...(command === undefined ? {} : { command }),
        ...(o.input === undefined ? {} : { input: o.input }),
        ...(o.sshOptions === undefined ? {} : { sshOptions: o.sshOptions }),
      }),
    [Symbol.asyncDispose]: async () => {
      await gatehouse[Symbol.asyncDispose]();
      await sshd[Symbol.asyncDispose]();
      await alice[Symbol.asyncDispose]();
    },
  };
}
