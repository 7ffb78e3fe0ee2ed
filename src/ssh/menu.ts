import type { ServerChannel } from 'ssh2';
import { isTargetName } from './addressing.js';
import type { ConnectionScope } from './connection-scope.js';

const MAX_MENU_LINE = 256;

/**
 * No target named: list what the user may reach. Without a pty it is a plain list (scripts
 * can read it); with one, the user types a name or number and gets a shell there.
 */
export async function runTargetMenu(
  scope: ConnectionScope,
  channel: ServerChannel,
  hasPty: boolean,
): Promise<string | undefined> {
  const reachable = await scope.control.reachable(scope.user);
  const eol = hasPty ? '\r\n' : '\n';
  const lines = reachable.map((r, i) => {
    const until = r.expiresAt === null ? '' : `  (until ${new Date(r.expiresAt).toISOString()})`;
    return `${hasPty ? `${String(i + 1).padStart(3)}) ` : ''}${r.target.name}\t${r.target.kind}${until}`;
  });
  if (!hasPty || reachable.length === 0) {
    // A paused server channel never reports its close (ssh2 waits for its input to end).
    channel.resume();
    if (reachable.length === 0)
      channel.stderr.write(
        `gatehouse: you have no targets right now; ask an administrator for a grant${eol}`,
      );
    else channel.write(`${lines.join(eol)}${eol}`);
    channel.exit(0);
    channel.end();
    channel.close();
    return undefined;
  }
  channel.write(
    `Gatehouse: targets for ${scope.user.user.name}${eol}${lines.join(eol)}${eol}target> `,
  );
  channel.resume();
  const answer = await readLine(channel);
  channel.pause();
  const choice = answer?.trim() ?? '';
  const byNumber = /^\d+$/.test(choice) ? reachable[Number(choice) - 1] : undefined;
  const chosen =
    byNumber?.target.name ?? reachable.find((r) => r.target.name === choice)?.target.name;
  if (chosen === undefined) {
    // A name typed here is an attempt like `ssh alice@bastion web-1`: audited. Text that is not
    // a target name is left out (people type passwords at the wrong prompt).
    if (choice !== '')
      scope.denyRequest('menu', {
        choice: isTargetName(choice) ? choice : null,
        reason: 'not-reachable',
      });
    channel.write(`${eol}gatehouse: no such target${eol}`);
    channel.exit(1);
    channel.end();
    channel.close();
    return undefined;
  }
  channel.write(`${eol}connecting to ${chosen}...${eol}`);
  return chosen;
}

/** Reads one typed line with echo and backspace; undefined on EOF or Ctrl-C/Ctrl-D. */
function readLine(channel: ServerChannel): Promise<string | undefined> {
  return new Promise((resolve) => {
    let line = '';
    const finish = (value: string | undefined): void => {
      channel.off('data', onData);
      channel.off('end', onEnd);
      resolve(value);
    };
    const onEnd = (): void => finish(undefined);
    const onData = (chunk: Buffer): void => {
      for (const byte of chunk) {
        if (byte === 0x0d || byte === 0x0a) return finish(line);
        if (byte === 0x03 || byte === 0x04) return finish(undefined);
        if (byte === 0x7f || byte === 0x08) {
          if (line.length > 0) {
            line = line.slice(0, -1);
            channel.write('\b \b');
          }
        } else if (byte >= 0x20 && byte < 0x7f && line.length < MAX_MENU_LINE) {
          line += String.fromCharCode(byte);
          channel.write(String.fromCharCode(byte));
        }
      }
    };
    channel.on('data', onData);
    channel.once('end', onEnd);
  });
}
