import type ssh2 from 'ssh2';
import type { PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import { forGatewayClient, GatehouseError, toGatehouseError } from '../core/errors.js';
import { echoWindowFor, type AsciicastWriter, type RecordingStore } from '../recording/index.js';
import { SftpAuditTap } from './sftp/index.js';
import { parseExecIntent } from './addressing.js';
import { bridgeChannels, watchExit, type ChannelExit, type ChannelTap } from './bridge.js';
import type { ConnectionScope } from './connection-scope.js';
import { runTargetMenu } from './menu.js';
import type { UpstreamLink } from './upstream-link.js';

/** Environment variables passed to the target (RFC 4254 §6.4); others are refused. */
export function isAllowedEnv(name: string): boolean {
  // GIT_PROTOCOL lets git use protocol v2 (its value is a version list, not a secret).
  return name === 'TERM' || name === 'LANG' || name === 'GIT_PROTOCOL' || /^LC_[A-Z_]+$/.test(name);
}

/** What a session channel asked for, collected before shell/exec/subsystem. */
interface ChannelSetup {
  pty: PseudoTtyInfo | undefined;
  readonly env: Record<string, string>;
}

/** What the channel runs. */
type ChannelRequest =
  | { readonly kind: 'shell' }
  | { readonly kind: 'exec'; readonly command: string }
  | { readonly kind: 'sftp' };

const MAX_ENV_VARS = 64;
/**
 * Output recorded of a channel without a terminal; the rest is counted. Such output is a data
 * stream (`ssh host 'tar c dir' > dir.tar`, `ssh host cat big.log`), not a screen: recording all
 * of it as terminal text cost 4–45 ms of CPU per MiB on the relay's event loop (half or more of
 * a download's throughput, docs/performance.md) and a second copy of the data on disk.
 */
export const DATA_STREAM_RECORD_BYTES = 256 * 1024;
// The server side of scp, rsync and sftp. Clients let the user change how it is started
// (`rsync --rsync-path=/usr/bin/rsync` or `'sudo rsync'`, `sftp -s /usr/libexec/sftp-server`), so
// the program is looked for as a word anywhere in the command, after a path or a wrapper too.
const FILE_TRANSFER_RE =
  /(?:^|[\s/;&|(])(?:scp\s|rsync\s+--server\b|sftp-server\b|internal-sftp\b|git-(?:upload|receive)-pack\b|git-upload-archive\b)/;

/**
 * Handles one `session` channel (RFC 4254 §6): pty, env, window changes and signals, then a
 * shell, a command or the sftp subsystem on the target. Each request type is authorized:
 * X11 and agent forwarding are refused (and audited), env is allow-listed.
 */
export function handleSessionChannel(
  scope: ConnectionScope,
  session: Session,
  channelNo: number,
): void {
  const setup: ChannelSetup = { pty: undefined, env: {} };
  let running: RunningChannel | undefined;

  session.on('pty', (accept, _reject, info) => {
    setup.pty = info;
    accept?.();
  });
  session.on('env', (accept, reject, info: { key: string; val: string }) => {
    if (
      isAllowedEnv(info.key) &&
      Object.keys(setup.env).length < MAX_ENV_VARS &&
      info.val.length < 1024
    ) {
      setup.env[info.key] = info.val;
      accept?.();
    } else {
      scope.denyRequest('env', { name: info.key.slice(0, 64) });
      reject?.();
    }
  });
  session.on('x11', (_accept, reject) => {
    scope.denyRequest('x11-req', {});
    reject?.();
  });
  session.on('auth-agent', (_accept, reject) => {
    // The bastion holds the credentials; agent forwarding would only widen exposure (and ssh2
    // cannot open the agent channel back, issue #1374).
    scope.denyRequest('auth-agent-req@openssh.com', {});
    reject?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    if (setup.pty !== undefined)
      setup.pty = {
        ...setup.pty,
        cols: info.cols,
        rows: info.rows,
        width: info.width,
        height: info.height,
      };
    running?.resize(info.rows, info.cols, info.height, info.width);
    accept?.();
  });
  session.on('signal', (accept, _reject, info: { name: string }) => {
    running?.signal(info.name);
    accept?.();
  });
  // FINDINGS: accept synchronously, before the client can send EOF, then dial upstream.
  session.on('shell', (accept) => {
    const channel = accept();
    if (channel !== undefined)
      running = startChannel(scope, channel, { kind: 'shell' }, setup, channelNo);
  });
  session.on('exec', (accept, _reject, info: { command: string }) => {
    const channel = accept();
    if (channel !== undefined)
      running = startChannel(
        scope,
        channel,
        { kind: 'exec', command: info.command },
        setup,
        channelNo,
      );
  });
  session.on('subsystem', (accept, reject, info: { name: string }) => {
    if (info.name !== 'sftp') {
      scope.denyRequest('subsystem', { name: info.name.slice(0, 64) });
      reject?.();
      return;
    }
    const channel = accept();
    if (channel !== undefined)
      running = startChannel(scope, channel, { kind: 'sftp' }, setup, channelNo);
  });
}

/** Controls of a channel once it runs on the target. */
interface RunningChannel {
  resize(rows: number, cols: number, height: number, width: number): void;
  signal(name: string): void;
}

function startChannel(
  scope: ConnectionScope,
  channel: ServerChannel,
  request: ChannelRequest,
  setup: ChannelSetup,
  channelNo: number,
): RunningChannel {
  channel.pause();
  let upstream: ssh2.ClientChannel | undefined;
  let recorder: AsciicastWriter | undefined;
  void run().catch((err: unknown) => failChannel(scope, channel, err));

  async function run(): Promise<void> {
    const loginTarget = scope.login.target;
    let targetName: string;
    let command: string | undefined;
    if (request.kind === 'exec') {
      const intent = parseExecIntent(request.command, loginTarget);
      if (intent === undefined)
        throw scope.usageError(
          `"${request.command.slice(0, 80)}" does not start with a target name`,
        );
      targetName = intent.target;
      command = intent.command;
    } else if (loginTarget !== undefined) {
      targetName = loginTarget;
    } else if (request.kind === 'sftp') {
      throw scope.usageError(
        'name the target in the login for sftp, scp and rsync: alice+web-1@bastion',
      );
    } else {
      const chosen = await runTargetMenu(scope, channel, setup.pty !== undefined);
      if (chosen === undefined) return;
      targetName = chosen;
    }

    const link = await scope.linkFor(targetName);
    const release = link.hold();
    // The session ends when its last channel is released; a recording must be finished (and
    // its hash known) by then, so the release waits for the recorder.
    let finishing: Promise<unknown> = Promise.resolve();
    channel.once('close', () => queueMicrotask(() => void finishing.finally(release)));
    const target = link.session.target;
    const isTransfer =
      request.kind === 'sftp' || (command !== undefined && FILE_TRANSFER_RE.test(command));
    if (isTransfer && !target.options.allowFileTransfer) {
      await scope.auditDenied(link, 'file-transfer', { command: command ?? 'sftp' });
      // Not the catalogue's hint ("ask for a grant"): the user has one, the target forbids this.
      throw new GatehouseError('GH_ACCESS_DENIED', {
        message: 'file transfer is not allowed on this target',
        hint: 'scp, sftp and rsync are turned off for this target',
      });
    }

    const opened = await openUpstreamChannel(
      link,
      request.kind === 'sftp' ? 'sftp' : command,
      setup,
    );
    const upstreamChannel = opened.channel;
    upstream = upstreamChannel;
    await scope.audit(
      link,
      request.kind === 'sftp' ? 'ssh.subsystem' : command === undefined ? 'ssh.shell' : 'ssh.exec',
      {
        ...(command === undefined ? {} : { command }),
        ...(request.kind === 'sftp' ? { subsystem: 'sftp' } : {}),
        pty: setup.pty === undefined ? null : `${setup.pty.cols}x${setup.pty.rows}`,
        channel: channelNo,
      },
    );

    let tap: ChannelTap | undefined;
    if (request.kind === 'sftp') {
      tap = sftpTap(scope, link);
    } else if (!isTransfer && target.options.recordSessions) {
      const recording = await openRecorder(
        scope.recordings,
        link,
        setup,
        channelNo,
        command,
        (line) => {
          recorder?.marker(line);
          scope.auditOrEnd(link, 'ssh.command', {
            command: line,
            isBestEffort: true,
            channel: channelNo,
          });
        },
      ).catch((err: unknown) => {
        // Fail closed: a session that cannot be recorded does not go on (the channel says why).
        link.close('recording-failed', 'failed');
        throw err;
      });
      recorder = recording.writer;
      const relPath = recording.relPath;
      tap = recorderTap(recorder);
      const writer = recorder;
      channel.once('close', () => {
        finishing = writer.close().then(
          (result) => link.addRecording({ path: relPath, sha256: result.sha256 }),
          () => undefined,
        );
      });
    }
    if (setup.pty !== undefined) {
      // A keystroke and its echo are single small packets: send them at once on both legs.
      const releaseClient = scope.holdInteractive();
      const releaseTarget = link.holdInteractive();
      channel.once('close', () => {
        releaseClient();
        releaseTarget();
      });
    }
    const sftp = request.kind === 'sftp' ? (tap as ChannelTap & { end(): void }) : undefined;
    tap = withActivity(tap, () => link.touch());
    const started = Date.now();
    bridgeChannels(channel, upstreamChannel, {
      exitOf: opened.exitOf,
      endNotice: () => link.endNotice(),
      ...(tap === undefined ? {} : { tap }),
      onClose: (exit, stats) => {
        if (exit.kind === 'status') recorder?.exit(exit.code);
        sftp?.end();
        if (isTransfer && request.kind === 'exec') {
          void scope
            .audit(link, 'scp.transfer', {
              command,
              bytesFromClient: stats.bytesFromClient,
              bytesToClient: stats.bytesToClient,
              durationMs: Date.now() - started,
            })
            .catch(() => undefined);
        }
      },
    });
    channel.resume();
  }

  return {
    resize: (rows, cols, height, width) => {
      upstream?.setWindow(rows, cols, height, width);
      recorder?.resize(cols, rows);
    },
    signal: (name) => {
      upstream?.signal(name.replace(/^SIG/, ''));
    },
  };
}

function openUpstreamChannel(
  link: UpstreamLink,
  /** `sftp`, a command, or undefined for a shell. */
  what: string | undefined,
  setup: ChannelSetup,
): Promise<{ channel: ssh2.ClientChannel; exitOf: () => ChannelExit }> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, stream: ssh2.ClientChannel): void => {
      if (err !== undefined) reject(toGatehouseError(err));
      else resolve({ channel: stream, exitOf: watchExit(stream) });
    };
    const pty =
      setup.pty === undefined ? undefined : { ...setup.pty, term: setup.pty.term ?? 'xterm' };
    try {
      if (what === 'sftp') link.client.subsys('sftp', done);
      else if (what === undefined) link.client.shell(pty ?? false, { env: setup.env }, done);
      else link.client.exec(what, { env: setup.env, ...(pty === undefined ? {} : { pty }) }, done);
    } catch (err) {
      reject(toGatehouseError(err));
    }
  });
}

async function openRecorder(
  store: RecordingStore,
  link: UpstreamLink,
  setup: ChannelSetup,
  channelNo: number,
  command: string | undefined,
  onCommand: (line: string) => void,
): Promise<{ writer: AsciicastWriter; relPath: string }> {
  const { session } = link;
  const opened = await store.openWriter(
    {
      sid: session.sid,
      channel: channelNo,
      user: session.user.name,
      target: session.target.name,
      // RFC 4254 §6.2: zero dimensions are to be ignored (`ssh -tt` without a terminal sends 0x0).
      term: {
        cols: setup.pty?.cols || 80,
        rows: setup.pty?.rows || 24,
        ...(setup.pty?.term === undefined ? {} : { type: setup.pty.term }),
      },
      title:
        command === undefined
          ? `${session.user.name} on ${session.target.name}`
          : `${session.target.name}: ${command.slice(0, 200)}`,
    },
    {
      // Keystrokes exist only with a terminal. Without a pty, stdin is data (`ssh host 'cat > f' < f`)
      // that nothing echoes: the echo tracker would mask all of it as `*`, one token per character
      // (a 256 MiB upload took 93 s instead of 3 s and left a 400 MB recording of asterisks).
      recordInput: session.target.options.recordInput && setup.pty !== undefined,
      ...(setup.pty === undefined ? { maxOutputBytes: DATA_STREAM_RECORD_BYTES } : {}),
      // Echo from a far or slow target takes longer: the window follows its round trip,
      // measured apart from the echo (src/ssh/round-trip.ts).
      echoWindowMs: () => echoWindowFor(link.roundTripMs()),
      // Existing sessions end when their recording cannot be written, telling the client why.
      onError: (error: GatehouseError) => link.close('recording-failed', 'failed', error.message),
      ...(command === undefined && setup.pty !== undefined
        ? { onCommandLine: (line: { text: string }) => onCommand(line.text) }
        : {}),
    },
  );
  return { writer: opened.writer, relPath: opened.relPath };
}

/** Wraps a tap so every chunk, either way, counts as activity (idle timeout). */
function withActivity(tap: ChannelTap | undefined, touch: () => void): ChannelTap {
  return {
    fromClient: (chunk) => {
      touch();
      return tap?.fromClient?.(chunk);
    },
    fromUpstream: (chunk) => {
      touch();
      return tap?.fromUpstream?.(chunk);
    },
    fromUpstreamStderr: (chunk) => {
      touch();
      return tap?.fromUpstreamStderr?.(chunk);
    },
    ...(tap?.drain === undefined ? {} : { drain: () => tap.drain?.() ?? Promise.resolve() }),
  };
}

function recorderTap(writer: AsciicastWriter): ChannelTap {
  return {
    fromClient: (chunk) => writer.input(chunk),
    fromUpstream: (chunk) => writer.output(chunk),
    fromUpstreamStderr: (chunk) => writer.output(chunk),
    drain: () => writer.drain(),
  };
}

function sftpTap(scope: ConnectionScope, link: UpstreamLink): ChannelTap & { end(): void } {
  const tap = new SftpAuditTap({
    onEvent: (event) => {
      const { type, ...data } = event;
      scope.auditOrEnd(link, type, data);
    },
  });
  return {
    fromClient: (chunk) => {
      tap.fromClient(chunk);
    },
    fromUpstream: (chunk) => {
      tap.fromServer(chunk);
    },
    end: () => tap.end(),
  };
}

function failChannel(scope: ConnectionScope, channel: ServerChannel, err: unknown): void {
  const error = toGatehouseError(err);
  if (error.code === 'GH_INTERNAL') scope.log.error({ err: error.detail }, 'ssh channel failed');
  else scope.log.info({ code: error.code, detail: error.detail }, 'ssh channel refused');
  try {
    // ssh2 emits a server channel's 'close' only after its readable side ended, and the channel
    // is still paused from startChannel: without this the channel never closes, so it never
    // releases its link and the session (upstream connection, lease) stays open.
    channel.resume();
    const shown = forGatewayClient(error);
    channel.stderr.write(
      `gatehouse: ${shown.message}\r\n${shown.hint === undefined ? '' : `hint: ${shown.hint}\r\n`}`,
    );
    channel.exit(255);
    channel.end();
    channel.close();
  } catch {
    // The client is gone.
  }
}
