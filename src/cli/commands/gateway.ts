import type { Command } from 'commander';
import { cliActor, withControlPlane } from '../context.js';
import { formatTime, printRows, type CliIo } from '../output.js';
import { parseDuration } from '../parse.js';

const DEFAULT_ENROLL_TTL_MS = 3_600_000;

/** `gatehouse gateway enroll-token|list|revoke`. */
export function registerGatewayCommands(program: Command, io: CliIo): void {
  const gateway = program.command('gateway').description('gateways that may unlock credentials');

  gateway
    .command('enroll-token <name>')
    .description('create a one-time token a remote gateway uses to enrol; printed once')
    .option('--ttl <duration>', 'how long the token is valid (default 1h)', parseDuration)
    .action(async (name: string, o: { ttl?: number }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const token = await cp.gateways.createEnrollToken(name, {
          ttlMs: o.ttl ?? DEFAULT_ENROLL_TTL_MS,
          actor: cliActor(),
        });
        io.stdout.write(`${token.token}\n`);
        io.stderr.write(
          `enrolment token for gateway ${name}, valid until ${formatTime(token.expiresAt)}\n`,
        );
      });
    });

  gateway
    .command('list')
    .option('--json', 'one JSON object per line', false)
    .action(async (o: { json: boolean }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const rows = (await cp.gateways.list()).map((g) => ({
          id: g.id,
          name: g.name,
          status: g.status,
          signKeyId: g.signKeyId,
          enrolledAt: formatTime(g.enrolledAt),
          revokedAt: g.revokedAt === null ? null : formatTime(g.revokedAt),
        }));
        printRows(io, rows, {
          json: o.json,
          columns: ['id', 'name', 'status', 'signKeyId', 'enrolledAt', 'revokedAt'],
        });
      });
    });

  gateway
    .command('revoke <id>')
    .description('revoke a gateway: it can no longer get grants or unlock credentials')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const g = await cp.gateways.revoke(id, { actor: cliActor() });
        io.stdout.write(`revoked gateway ${g.name} (${g.id})\n`);
      });
    });
}
