import { InvalidArgumentError, type Command } from 'commander';
import { parseLabels } from '../../policy/targets.js';
import { GatehouseError } from '../../core/errors.js';
import { fetchHostKey, type HostKeyType } from '../../ssh/host-keys.js';
import { withControlPlane, cliActor } from '../context.js';
import { formatTime, printRows, type CliIo } from '../output.js';
import { parsePort } from '../parse.js';

/** `gatehouse target add|list|remove|trust`. */
export function registerTargetCommands(program: Command, io: CliIo): void {
  const target = program
    .command('target')
    .description('servers and databases reachable through Gatehouse');

  target
    .command('add <name>')
    .description('add a target')
    .requiredOption('--kind <kind>', 'ssh, postgres or mysql')
    .requiredOption('--host <host>', 'address of the target')
    .requiredOption('--port <port>', 'port of the target', parsePort)
    .requiredOption('--username <user>', 'the leased account on the target')
    .option('--database <db>', 'default database (postgres, mysql)')
    .option('--label <k=v>', 'label, repeatable', collect, [])
    .option('--allow-port-forwarding', 'allow -L/-R/-W port forwarding to this target', false)
    .option('--allow-file-transfer', 'allow scp/sftp/rsync (default on)', true)
    .option('--no-file-transfer', 'forbid scp/sftp/rsync')
    .option('--no-record-input', 'do not record keystrokes')
    .option('--no-recording', 'ssh: do not record sessions at all (audit events are still written)')
    .option('--read-only', 'databases: reject statements that write', false)
    .option('--trust-on-first-use', 'ssh: pin the host key seen on first connection', false)
    .option(
      '--idle-timeout <seconds>',
      'end idle sessions after this many seconds',
      parseSeconds,
      0,
    )
    .option('--max-session <seconds>', 'end sessions after this many seconds', parseSeconds, 0)
    .option(
      '--rotate <seconds>',
      'databases: rotate the credential every N seconds',
      parseSeconds,
      0,
    )
    .option('--json', 'print the target as JSON', false)
    .action(async (name: string, o: TargetAddOptions, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const added = await cp.targets.add(
          {
            name,
            kind: o.kind,
            host: o.host,
            port: o.port,
            username: o.username,
            database: o.database,
            labels: parseLabels(o.label),
            options: {
              allowPortForwarding: o.allowPortForwarding,
              allowFileTransfer: o.fileTransfer !== false && o.allowFileTransfer,
              recordInput: o.recordInput,
              recordSessions: o.recording,
              readOnly: o.readOnly,
              trustOnFirstUse: o.trustOnFirstUse,
              idleTimeoutS: o.idleTimeout,
              maxSessionS: o.maxSession,
              rotateEveryS: o.rotate,
            },
          },
          { actor: cliActor() },
        );
        if (o.json) io.stdout.write(`${JSON.stringify(targetRow(added))}\n`);
        else
          io.stdout.write(
            `added target ${added.name} (${added.kind} ${added.username}@${added.host}:${added.port})\n`,
          );
      });
    });

  target
    .command('list')
    .description('list targets')
    .option('--json', 'one JSON object per line', false)
    .action(async (o: { json: boolean }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const rows = (await cp.targets.list()).map(targetRow);
        printRows(io, rows, {
          json: o.json,
          columns: ['name', 'kind', 'host', 'port', 'username', 'database', 'labels', 'hostKey'],
        });
      });
    });

  target
    .command('trust <name>')
    .description('ssh targets: fetch the host key now, pin it, and print its fingerprint')
    .option(
      '--key-type <type>',
      'which host key to pin when the server has several (e.g. ssh-ed25519)',
    )
    .action(async (name: string, o: { keyType?: string }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const found = await cp.targets.get(name);
        if (found.kind !== 'ssh')
          throw new GatehouseError('GH_INVALID_ARGUMENT', {
            message: `target "${name}" is not an ssh target`,
          });
        const key = await fetchHostKey({
          host: found.host,
          port: found.port,
          ...(o.keyType === undefined ? {} : { preferredType: o.keyType as HostKeyType }),
        });
        await cp.targets.pinHostKey(name, key.line, {
          actor: cliActor(),
          fingerprint: key.fingerprint,
        });
        io.stdout.write(`pinned ${key.type} host key of ${name}: ${key.fingerprint}\n`);
      });
    });

  target
    .command('remove <name>')
    .description('remove a target and its credentials')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        await cp.targets.remove(name, { actor: cliActor() });
        io.stdout.write(`removed target ${name}\n`);
      });
    });
}

interface TargetAddOptions {
  kind: string;
  host: string;
  port: number;
  username: string;
  database?: string;
  label: string[];
  allowPortForwarding: boolean;
  allowFileTransfer: boolean;
  fileTransfer?: boolean;
  recordInput: boolean;
  recording: boolean;
  readOnly: boolean;
  trustOnFirstUse: boolean;
  idleTimeout: number;
  maxSession: number;
  rotate: number;
  json: boolean;
}

function targetRow(t: import('../../core/types.js').Target): Record<string, unknown> {
  return {
    name: t.name,
    kind: t.kind,
    host: t.host,
    port: t.port,
    username: t.username,
    database: t.database,
    labels: t.labels,
    options: t.options,
    hostKey: t.hostKey === null ? null : 'pinned',
    createdAt: formatTime(t.createdAt),
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`"${value}" is not a whole number of seconds`);
  return n;
}
