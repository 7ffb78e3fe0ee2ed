import type { Command } from 'commander';
import {
  formatScope,
  formatSubject,
  parseGrantScope,
  parseGrantSubject,
} from '../../policy/grants.js';
import type { Grant } from '../../core/types.js';
import { cliActor, withControlPlane } from '../context.js';
import { formatTime, printRows, type CliIo } from '../output.js';
import { parseDuration } from '../parse.js';

/** `gatehouse grant …`, `gatehouse grant list`, `gatehouse revoke ID`. */
export function registerGrantCommands(program: Command, io: CliIo): void {
  const grant = program
    .command('grant')
    .description('grant USER or @ROLE access to TARGET or label:k=v')
    .argument('[subject]', 'user name, or @role')
    .argument('[scope]', 'target name, or label:key=value')
    .option('--for <duration>', 'lifetime, e.g. 2h or 7d (default: until revoked)', parseDuration)
    .option('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'print the grant as JSON', false)
    .action(
      async (
        subject: string | undefined,
        scope: string | undefined,
        o: GrantOptions,
        cmd: Command,
      ) => {
        if (subject === undefined || scope === undefined) {
          cmd.help({ error: true });
        }
        await withControlPlane(cmd, io, async (cp) => {
          const created = await cp.grants.create(
            {
              subject: parseGrantSubject(subject),
              scope: parseGrantScope(scope),
              durationMs: o.for,
              reason: o.reason,
            },
            { actor: cliActor() },
          );
          if (o.json) io.stdout.write(`${JSON.stringify(grantRow(created))}\n`);
          else {
            const until =
              created.expiresAt === null
                ? 'until revoked'
                : `until ${formatTime(created.expiresAt)}`;
            io.stdout.write(
              `granted ${formatSubject(created.subject)} -> ${formatScope(created.scope)} ${until} (id ${created.id})\n`,
            );
          }
        });
      },
    );

  grant
    .command('list')
    .description('list grants in force (--all: also expired and revoked)')
    .option('--all', 'include expired and revoked grants', false)
    .option('--json', 'one JSON object per line', false)
    .action(async (_o: unknown, cmd: Command) => {
      // `grant` itself has --json too; commander may give the flag to either command.
      const o = cmd.optsWithGlobals<{ all: boolean; json: boolean }>();
      await withControlPlane(cmd, io, async (cp) => {
        const rows = (await cp.grants.list({ includeInactive: o.all })).map(grantRow);
        printRows(io, rows, {
          json: o.json,
          columns: ['id', 'subject', 'scope', 'expiresAt', 'revokedAt', 'reason'],
        });
      });
    });

  program
    .command('revoke <grantId>')
    .description('revoke a grant at once')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        await cp.grants.revoke(id, { actor: cliActor() });
        io.stdout.write(`revoked grant ${id}\n`);
      });
    });
}

interface GrantOptions {
  for?: number;
  reason?: string;
  json: boolean;
}

function grantRow(g: Grant): Record<string, unknown> {
  return {
    id: g.id,
    subject: formatSubject(g.subject),
    scope: formatScope(g.scope),
    expiresAt: g.expiresAt === null ? null : formatTime(g.expiresAt),
    revokedAt: g.revokedAt === null ? null : formatTime(g.revokedAt),
    reason: g.reason,
    createdBy: g.createdBy,
    createdAt: formatTime(g.createdAt),
  };
}
