import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { User } from '../../core/types.js';
import { cliActor, withControlPlane } from '../context.js';
import { formatTime, printRows, readSecretFromStdin, type CliIo } from '../output.js';
import { parseDuration } from '../parse.js';

const DEFAULT_TOKEN_LIFETIME_MS = 8 * 3_600_000;

/** `gatehouse user …` and `gatehouse token create`. */
export function registerUserCommands(program: Command, io: CliIo): void {
  const user = program.command('user').description('people who use Gatehouse');

  user
    .command('add <name>')
    .description('add a user')
    .option('--role <role>', 'role, repeatable (default: user)', collect, [])
    .option('--password-stdin', 'read a password from stdin', false)
    .option('--ssh-key <file>', 'an OpenSSH public key file (one key per line)')
    .action(
      async (
        name: string,
        o: { role: string[]; passwordStdin: boolean; sshKey?: string },
        cmd: Command,
      ) => {
        const password = o.passwordStdin ? await readSecretFromStdin(io, 'Password: ') : undefined;
        const sshKeys = o.sshKey === undefined ? [] : readKeyLines(o.sshKey);
        await withControlPlane(cmd, io, async (cp) => {
          const added = await cp.users.add(name, {
            actor: cliActor(),
            ...(o.role.length > 0 ? { roles: o.role } : {}),
            ...(password === undefined ? {} : { password }),
            sshKeys,
          });
          io.stdout.write(`added user ${added.name} (roles ${added.roles.join(', ')})\n`);
        });
      },
    );

  user
    .command('passwd <name>')
    .description("set a user's password")
    .requiredOption('--password-stdin', 'read the password from stdin')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const password = await readSecretFromStdin(io, 'New password: ');
      await withControlPlane(cmd, io, async (cp) => {
        await cp.users.setPassword(name, password, { actor: cliActor() });
        io.stdout.write(`password of ${name} changed\n`);
      });
    });

  const key = user.command('key').description('SSH public keys of a user');
  key
    .command('add <name> <file>')
    .description('add the OpenSSH public key(s) in FILE')
    .action(async (name: string, file: string, _o: unknown, cmd: Command) => {
      const lines = readKeyLines(file);
      await withControlPlane(cmd, io, async (cp) => {
        for (const line of lines) {
          const info = await cp.users.addKey(name, line, { actor: cliActor() });
          io.stdout.write(`added ${info.algo} key ${info.fingerprint} to ${name}\n`);
        }
      });
    });
  key
    .command('list <name>')
    .option('--json', 'one JSON object per line', false)
    .action(async (name: string, o: { json: boolean }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const rows = (await cp.users.listKeys(name)).map((k) => ({
          fingerprint: k.fingerprint,
          algo: k.algo,
          comment: k.comment,
          createdAt: formatTime(k.createdAt),
        }));
        printRows(io, rows, {
          json: o.json,
          columns: ['fingerprint', 'algo', 'comment', 'createdAt'],
        });
      });
    });
  key
    .command('remove <name> <fingerprint>')
    .action(async (name: string, fingerprint: string, _o: unknown, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        await cp.users.removeKey(name, fingerprint, { actor: cliActor() });
        io.stdout.write(`removed key ${fingerprint} from ${name}\n`);
      });
    });

  user
    .command('totp <name>')
    .description('enrol TOTP as a second factor; prints the otpauth:// URI once')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        io.stdout.write(`${await cp.users.enrollTotp(name, { actor: cliActor() })}\n`);
      });
    });

  for (const [verb, isDisable] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    user
      .command(`${verb} <name>`)
      .description(
        isDisable ? 'disable a user at once (sessions are refused)' : 'enable a disabled user',
      )
      .action(async (name: string, _o: unknown, cmd: Command) => {
        await withControlPlane(cmd, io, async (cp) => {
          if (isDisable) await cp.users.disable(name, { actor: cliActor() });
          else await cp.users.enable(name, { actor: cliActor() });
          io.stdout.write(`${verb}d user ${name}\n`);
        });
      });
  }

  user
    .command('list')
    .description('list users')
    .option('--json', 'one JSON object per line', false)
    .action(async (o: { json: boolean }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const rows = (await cp.users.list()).map(userRow);
        printRows(io, rows, {
          json: o.json,
          columns: ['name', 'roles', 'disabled', 'totp', 'createdAt'],
        });
      });
    });

  const token = program.command('token').description('personal access tokens');
  token
    .command('create <user>')
    .description('create a personal access token; prints it once')
    .option('--for <duration>', 'lifetime, e.g. 8h or 30d (default 8h)', parseDuration)
    .action(async (name: string, o: { for?: number }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const created = await cp.tokens.create(name, {
          actor: cliActor(),
          expiresAt: Date.now() + (o.for ?? DEFAULT_TOKEN_LIFETIME_MS),
        });
        io.stdout.write(`${created.secret}\n`);
        io.stderr.write(
          `token ${created.id} for ${name} expires ${formatTime(created.expiresAt)}\n`,
        );
      });
    });
  token
    .command('list <user>')
    .option('--json', 'one JSON object per line', false)
    .action(async (name: string, o: { json: boolean }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const rows = (await cp.tokens.list(name)).map((t) => ({
          id: t.id,
          expiresAt: formatTime(t.expiresAt),
          lastUsedAt: formatTime(t.lastUsedAt),
          revokedAt: formatTime(t.revokedAt),
        }));
        printRows(io, rows, {
          json: o.json,
          columns: ['id', 'expiresAt', 'lastUsedAt', 'revokedAt'],
        });
      });
    });
  token.command('revoke <id>').action(async (id: string, _o: unknown, cmd: Command) => {
    await withControlPlane(cmd, io, async (cp) => {
      await cp.tokens.revoke(id, { actor: cliActor() });
      io.stdout.write(`revoked token ${id}\n`);
    });
  });
}

function userRow(u: User): Record<string, unknown> {
  return {
    name: u.name,
    roles: u.roles,
    disabled: u.isDisabled,
    totp: u.hasTotp,
    createdAt: formatTime(u.createdAt),
  };
}

function readKeyLines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
