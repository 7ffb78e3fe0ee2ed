import type { Command } from 'commander';
import { GatehouseError } from '../../core/errors.js';
import { requestSessionKill } from '../../lease/session-watch.js';
import { DirRecordingStore, renderToTerminal } from '../../recording/index.js';
import { cliActor, withControlPlane, type ControlPlane } from '../context.js';
import { formatTime, printRows, type CliIo } from '../output.js';

/** `gatehouse sessions list|kill` and `gatehouse recording play|export`. */
export function registerSessionCommands(program: Command, io: CliIo): void {
  const sessions = program.command('sessions').description('live and past sessions');

  sessions
    .command('list')
    .description('sessions, newest first')
    .option('--live', 'only sessions in progress', false)
    .option('-n, --limit <n>', 'how many', (v) => Number.parseInt(v, 10), 50)
    .option('--json', 'one JSON object per line', false)
    .action(async (o: { live: boolean; limit: number; json: boolean }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        let query = cp.store.db
          .selectFrom('sessions')
          .selectAll()
          .orderBy('started_at', 'desc')
          .limit(Math.max(1, o.limit));
        if (o.live) query = query.where('status', '=', 'active');
        const rows = (await query.execute()).map((s) => ({
          sid: s.sid,
          user: s.user_name,
          target: s.target,
          kind: s.kind,
          status: s.status,
          startedAt: formatTime(s.started_at),
          endedAt: s.ended_at === null ? null : formatTime(s.ended_at),
          clientAddr: s.client_addr,
          recordings: recordingsOf(s.recording),
        }));
        printRows(io, rows, {
          json: o.json,
          columns: [
            'sid',
            'user',
            'target',
            'kind',
            'status',
            'startedAt',
            'endedAt',
            'clientAddr',
          ],
        });
      });
    });

  sessions
    .command('kill <sid>')
    .description('end a live session (within a second, on whichever gateway holds it)')
    .option('--reason <text>', 'why (kept in the audit log)', 'killed by an administrator')
    .action(async (sid: string, o: { reason: string }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const session = await findSession(cp, sid);
        if (session.status !== 'active') {
          throw new GatehouseError('GH_INVALID_ARGUMENT', {
            message: `session ${sid} is not live (${session.status})`,
          });
        }
        await requestSessionKill(cp.store.db, sid, o.reason);
        await cp.audit.append({
          type: 'admin.session.kill',
          user: session.user_name,
          sid,
          target: session.target,
          data: { by: cliActor(), reason: o.reason },
        });
        io.stdout.write(`asked to end session ${sid}\n`);
      });
    });

  const recording = program.command('recording').description('terminal recordings (asciicast v3)');
  recording
    .command('play <sid>')
    .description('replay a recorded session in this terminal')
    .option('--channel <n>', 'which channel when the session had several (default: first)', (v) =>
      Number.parseInt(v, 10),
    )
    .option('--speed <x>', 'speed factor', Number.parseFloat, 1)
    .option('--max-idle <seconds>', 'cap pauses at this many seconds', Number.parseFloat, 2)
    .action(
      async (
        sid: string,
        o: { channel?: number; speed: number; maxIdle: number },
        cmd: Command,
      ) => {
        await withControlPlane(cmd, io, async (cp) => {
          const store = new DirRecordingStore(cp.config.recordings.dir);
          const reader = await store.openReader(await pickRecording(cp, sid, o.channel));
          try {
            await renderToTerminal(reader, io.stdout, { speed: o.speed, maxIdleS: o.maxIdle });
          } finally {
            await reader.close();
          }
        });
      },
    );
  recording
    .command('export <sid>')
    .description('write the asciicast v3 file to stdout (plays in asciinema and asciinema-player)')
    .option('--channel <n>', 'which channel when the session had several (default: first)', (v) =>
      Number.parseInt(v, 10),
    )
    .action(async (sid: string, o: { channel?: number }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const store = new DirRecordingStore(cp.config.recordings.dir);
        const stream = await store.exportCast(await pickRecording(cp, sid, o.channel));
        for await (const chunk of stream) io.stdout.write(chunk as Buffer);
      });
    });
}

async function findSession(
  cp: ControlPlane,
  sid: string,
): Promise<{ status: string; user_name: string; target: string; recording: string | null }> {
  const session = await cp.store.db
    .selectFrom('sessions')
    .selectAll()
    .where('sid', '=', sid)
    .executeTakeFirst();
  if (session === undefined)
    throw new GatehouseError('GH_NOT_FOUND', { message: `session ${sid} does not exist` });
  return session;
}

async function pickRecording(
  cp: ControlPlane,
  sid: string,
  channel: number | undefined,
): Promise<string> {
  const session = await findSession(cp, sid);
  const paths = recordingsOf(session.recording);
  const chosen =
    channel === undefined ? paths[0] : paths.find((p) => p.endsWith(`-${channel}.cast`));
  if (chosen === undefined) {
    throw new GatehouseError('GH_NOT_FOUND', {
      message:
        session.status === 'active'
          ? `session ${sid} is still running; its recording is listed when it ends`
          : `session ${sid} has no recording${channel === undefined ? '' : ` for channel ${channel}`}`,
    });
  }
  return chosen;
}

function recordingsOf(column: string | null): string[] {
  if (column === null) return [];
  try {
    const parsed: unknown = JSON.parse(column);
    return Array.isArray(parsed)
      ? parsed.filter((p): p is string => typeof p === 'string')
      : [column];
  } catch {
    return [column];
  }
}
