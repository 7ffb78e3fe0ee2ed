import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { GatehouseError } from '../../core/errors.js';
import { rotateLocalKey } from '../../lease/index.js';
import { cliActor, withControlPlane } from '../context.js';
import { formatTime, printRows, readSecretFromStdin, type CliIo } from '../output.js';

/** `gatehouse credential set|show|rotate` and `gatehouse kms rotate`. */
export function registerCredentialCommands(program: Command, io: CliIo): void {
  const credential = program
    .command('credential')
    .description('leased credentials of targets (never displayed)');

  credential
    .command('set <target>')
    .description('store a new credential version for TARGET')
    .option('--password-stdin', 'read a password from stdin')
    .option('--private-key <file>', 'an unencrypted OpenSSH/PEM private key file')
    .option('--generate-ssh-key', 'generate an ed25519 key pair; prints only the public key line')
    .action(
      async (
        target: string,
        o: { passwordStdin?: boolean; privateKey?: string; generateSshKey?: boolean },
        cmd: Command,
      ) => {
        const chosen = [o.passwordStdin, o.privateKey !== undefined, o.generateSshKey].filter(
          Boolean,
        ).length;
        if (chosen !== 1) {
          throw new GatehouseError('GH_INVALID_ARGUMENT', {
            message:
              'choose exactly one of --password-stdin, --private-key FILE, --generate-ssh-key',
          });
        }
        if (o.generateSshKey === true) {
          await withControlPlane(cmd, io, async (cp) => {
            const publicLine = await cp.credentials.generateSshKey(target, { actor: cliActor() });
            io.stdout.write(`${publicLine}\n`);
            io.stderr.write(
              `stored a new ssh key for ${target}; add the line above to the target's authorized_keys\n`,
            );
          });
          return;
        }
        const secret =
          o.privateKey !== undefined
            ? ({ kind: 'ssh-key', privateKey: readFileSync(o.privateKey) } as const)
            : ({
                kind: 'password',
                password: Buffer.from(await readSecretFromStdin(io, 'Password: '), 'utf8'),
              } as const);
        await withControlPlane(cmd, io, async (cp) => {
          const info = await cp.credentials.set(target, secret, { actor: cliActor() });
          io.stdout.write(
            `stored credential version ${info.version} (${info.kind}) for ${target}\n`,
          );
        });
      },
    );

  credential
    .command('show <target>')
    .description('credential versions of TARGET: metadata only')
    .option('--json', 'one JSON object per line', false)
    .action(async (target: string, o: { json: boolean }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const rows = (await cp.credentials.show(target)).map((c) => ({
          version: c.version,
          kind: c.kind,
          status: c.status,
          kms: c.kms,
          keyId: c.keyId,
          createdAt: formatTime(c.createdAt),
          createdBy: c.createdBy,
          fingerprint: c.fingerprint,
        }));
        printRows(io, rows, {
          json: o.json,
          columns: ['version', 'kind', 'status', 'kms', 'keyId', 'createdAt', 'fingerprint'],
        });
      });
    });

  credential
    .command('rotate <target>')
    .description('database targets: set a new random password on the target and store it')
    .action(async (target: string, _o: unknown, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const result = await cp.rotateCredential(target, { actor: cliActor() });
        io.stdout.write(
          `rotated ${target}: version ${result.previousVersion} -> ${result.version}\n`,
        );
      });
    });

  const kms = program.command('kms').description('the key management service');
  kms
    .command('rotate')
    .description('local KMS: add a new master key and re-wrap every data key under it')
    .action(async (_o: unknown, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        if (cp.config.kms.provider !== 'local') {
          throw new GatehouseError('GH_INVALID_ARGUMENT', {
            message: 'kms rotate applies to the local KMS',
            hint: 'rotate AWS KMS keys in AWS (automatic key rotation keeps old key material)',
          });
        }
        const keyId = rotateLocalKey(cp.config.kms.keyFile);
        const moved = await cp.credentials.rewrapAll();
        await cp.audit.append({
          type: 'admin.kms.rotate',
          data: { by: cliActor(), keyId, rewrapped: moved },
        });
        io.stdout.write(`new master key ${keyId}; re-wrapped ${moved} credential version(s)\n`);
      });
    });
}
