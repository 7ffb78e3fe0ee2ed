import { z } from 'zod';
import { connectCommands, type BastionAddress } from '../connect-commands.js';
import type { WebDeps } from '../deps.js';
import { route, type ApiRoute } from '../route.js';

const accessSchema = z.object({
  bastionHost: z.string(),
  targets: z.array(
    z.object({
      name: z.string(),
      kind: z.enum(['ssh', 'postgres', 'mysql']),
      database: z.string().nullable(),
      labels: z.record(z.string(), z.string()),
      expiresAt: z.number().nullable().describe('ms since the epoch; null: until revoked'),
      commands: z.array(z.object({ label: z.string(), command: z.string() })),
    }),
  ),
});

/** "My access": what the caller may reach now, with the commands to do it. */
export function accessRoutes(deps: WebDeps): ApiRoute[] {
  return [
    route({
      method: 'GET',
      url: '/api/me/access',
      tag: 'access',
      summary: 'Targets the caller may reach now, when each grant ends, and how to connect',
      permission: 'self',
      response: accessSchema,
      handler: async ({ principal, request }) => {
        const { config } = deps;
        const wildcard = ['0.0.0.0', '::', ''].includes(config.listen.host);
        // The name the caller used to reach the console is the best guess for the bastion's name.
        const host = wildcard ? request.hostname.replace(/^\[(.*)\]$/, '$1') : config.listen.host;
        const at: BastionAddress = {
          host,
          sshPort: config.ssh.enabled ? config.ssh.port : undefined,
          postgresPort: config.postgres.enabled ? config.postgres.port : undefined,
          mysqlPort: config.mysql.enabled ? config.mysql.port : undefined,
        };
        const reachable = await deps.access.reachable(principal.user);
        return {
          bastionHost: host,
          targets: reachable.map(({ target, expiresAt }) => ({
            name: target.name,
            kind: target.kind,
            database: target.database,
            labels: { ...target.labels },
            expiresAt,
            commands: connectCommands(principal.user.name, target, at),
          })),
        };
      },
    }),
  ];
}
