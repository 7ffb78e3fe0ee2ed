import type { Readable, Writable } from 'node:stream';
import type { ClientChannel, ServerChannel } from 'ssh2';

/** Something that watches the bytes of a channel (recording, SFTP audit); it may ask to wait. */
export interface ChannelTap {
  /** Client → target bytes. Returns false when the tap needs `drain()` before more. */
  fromClient?(chunk: Buffer): boolean | void;
  /** Target → client bytes (stdout). */
  fromUpstream?(chunk: Buffer): boolean | void;
  /** Target → client stderr bytes. */
  fromUpstreamStderr?(chunk: Buffer): boolean | void;
  drain?(): Promise<void>;
}

/** How the target's side of a channel ended. */
export type ChannelExit =
  | { readonly kind: 'status'; readonly code: number }
  | {
      readonly kind: 'signal';
      readonly signal: string;
      readonly coreDumped: boolean;
      readonly message: string;
    }
  | { readonly kind: 'none' };

/** Byte counts of a bridged channel. */
export interface BridgeStats {
  bytesFromClient: number;
  bytesToClient: number;
}

/**
 * Relays one SSH channel between the client and the target with backpressure both ways
 * (ssh2 itself does not push back on sockets; only the SSH window bounds memory, so a slow
 * reader must pause the other side). Exit status or signal is passed back before EOF/close,
 * since ssh2's `end()` sends both at once (FINDINGS: "exit status before end").
 */
export function bridgeChannels(
  client: ServerChannel,
  upstream: ClientChannel,
  options: {
    /** From {@link watchExit}, attached as soon as the upstream channel opened. */
    readonly exitOf: () => ChannelExit;
    readonly tap?: ChannelTap;
    readonly onClose?: (exit: ChannelExit, stats: BridgeStats) => void;
    /** Why the target side ended without an exit status (target lost, recording failed); told to the client. */
    readonly endNotice?: () => string | undefined;
  },
): BridgeStats {
  const tap = options.tap ?? {};
  const stats: BridgeStats = { bytesFromClient: 0, bytesToClient: 0 };
  // Errors after either side went away are expected (write after close); the close events end it.
  client.on('error', () => undefined);
  upstream.on('error', () => undefined);

  pump(
    upstream,
    client,
    (chunk) => {
      stats.bytesToClient += chunk.length;
      return tap.fromUpstream?.(chunk);
    },
    tap,
  );
  pump(
    upstream.stderr,
    client.stderr,
    (chunk) => {
      stats.bytesToClient += chunk.length;
      return tap.fromUpstreamStderr?.(chunk);
    },
    tap,
  );
  pump(
    client,
    upstream,
    (chunk) => {
      stats.bytesFromClient += chunk.length;
      return tap.fromClient?.(chunk);
    },
    tap,
  );

  // Client EOF (e.g. `ssh host cat < file` reached the end) → EOF to the target.
  client.once('end', () => upstream.end());
  let isClosed = false;
  const finish = (): void => {
    if (isClosed) return;
    isClosed = true;
    const exit = options.exitOf();
    try {
      const lost = exit.kind === 'none' ? options.endNotice?.() : undefined;
      if (exit.kind === 'status') client.exit(exit.code);
      else if (exit.kind === 'signal')
        client.exit(exit.signal.replace(/^SIG/, ''), exit.coreDumped, exit.message);
      else if (lost !== undefined) {
        client.stderr.write(`\r\ngatehouse: ${lost}\r\n`);
        client.exit(255);
      }
      // Not close(): ssh2 sends CHANNEL_CLOSE at once and drops output still queued for the
      // client's window (a slow reader lost the last few hundred KiB of a download). end()
      // flushes and then sends EOF and, on a server channel, CLOSE. stderr ends first so that
      // CLOSE does not cut its tail either.
      client.stderr.end(() => client.end());
    } catch {
      // The client is already gone.
    }
    options.onClose?.(exit, stats);
  };
  upstream.once('close', finish);
  client.once('close', () => {
    if (!isClosed) upstream.close();
  });
  return stats;
}

/**
 * Starts listening for the target's exit-status/exit-signal at once: ssh2 emits `exit` only
 * once, and a quick command exits while the relay is still being set up.
 */
export function watchExit(upstream: ClientChannel): () => ChannelExit {
  let exit: ChannelExit = { kind: 'none' };
  upstream.on(
    'exit',
    (code: number | null, signal?: string, coreDumped?: boolean, message?: string) => {
      exit =
        code === null || code === undefined
          ? {
              kind: 'signal',
              signal: signal ?? 'KILL',
              coreDumped: coreDumped === true,
              message: message ?? '',
            }
          : { kind: 'status', code };
    },
  );
  return () => exit;
}

/**
 * Moves data from `from` to `to`, pausing `from` while `to` (or the tap) is full. `end` is
 * never forwarded: EOF and close are handled by the caller in the right order.
 */
function pump(
  from: Readable,
  to: Writable,
  observe: (chunk: Buffer) => boolean | void,
  tap: ChannelTap,
): void {
  let waits = 0;
  const wait = (): void => {
    if (waits++ === 0) from.pause();
  };
  const done = (): void => {
    if (--waits === 0) from.resume();
  };
  from.on('data', (chunk: Buffer) => {
    // Forwarded first, watched after: ssh2 sends a lone small packet (a keystroke, its echo) at
    // once, so the tap's work (the recorder's) is not on the keystroke's way.
    const isWritable = to.write(chunk);
    const isTapReady = observe(chunk) !== false;
    if (!isWritable) {
      wait();
      to.once('drain', done);
    }
    if (!isTapReady && tap.drain !== undefined) {
      wait();
      tap.drain().then(done, done);
    }
  });
}
