import type { ClientChannel, Connection, ServerChannel, TcpipRequestInfo } from 'ssh2';
import { toGatehouseError } from '../core/errors.js';
import type { ConnectionScope } from './connection-scope.js';
import type { UpstreamLink } from './upstream-link.js';

/** Links whose remote-forward connections are already sent back to the client. */
const LISTENING = new WeakSet<UpstreamLink>();

/** Remote forwards (`-R`) one connection may hold. */
const MAX_REMOTE_FORWARDS = 16;

/**
 * `direct-tcpip` (`ssh -L`, `ssh -W`, RFC 4254 §7.2) towards the login's target: the target's
 * sshd makes the connection, so "localhost" means the target itself. Only when the target
 * allows port forwarding (default deny); audited with addresses and byte counts.
 */
export async function forwardDirectTcpip(
  scope: ConnectionScope,
  info: TcpipRequestInfo,
  accept: () => ServerChannel | undefined,
  reject: () => void,
): Promise<void> {
  const target = scope.login.target;
  if (target === undefined) {
    scope.denyRequest('direct-tcpip', {
      destination: `${info.destIP}:${info.destPort}`,
      reason: 'no-target',
    });
    return reject();
  }
  let link: UpstreamLink;
  try {
    link = await scope.linkFor(target);
  } catch (err) {
    scope.log.info({ code: toGatehouseError(err).code }, 'port forward refused');
    return reject();
  }
  const where = {
    source: `${info.srcIP}:${info.srcPort}`,
    destination: `${info.destIP}:${info.destPort}`,
  };
  if (!link.session.target.options.allowPortForwarding) {
    await scope.auditDenied(link, 'direct-tcpip', where).catch(() => undefined);
    return reject();
  }
  const release = link.hold();
  link.client.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, upstream) => {
    if (err !== undefined) {
      release();
      return reject();
    }
    const channel = accept();
    if (channel === undefined) {
      upstream.close();
      return release();
    }
    pipeForward(channel, upstream, (bytesOut, bytesIn) => {
      release();
      void scope
        .audit(link, 'ssh.port_forward', {
          kind: 'direct-tcpip',
          ...where,
          bytesFromClient: bytesOut,
          bytesToClient: bytesIn,
        })
        .catch(() => undefined);
    });
  });
}

/**
 * Global requests (RFC 4254 §4, §7.1): `tcpip-forward` (`ssh -R`) asks the target's sshd to
 * listen and sends its connections back through us; everything else is refused.
 */
export function handleGlobalRequest(
  scope: ConnectionScope,
  conn: Connection,
  request: { name: string; info: { bindAddr?: string; bindPort?: number } },
  accept: ((port?: number) => void) | undefined,
  reject: (() => void) | undefined,
  forwards: Map<string, UpstreamLink>,
): void {
  const { name, info } = request;
  const deny = (reason: string): void => {
    scope.denyRequest(name, { reason, bind: `${info.bindAddr ?? ''}:${info.bindPort ?? ''}` });
    reject?.();
  };
  if (name === 'keepalive@openssh.com' || name === 'no-more-sessions@openssh.com')
    return reject?.();
  if (name === 'cancel-tcpip-forward') {
    const key = `${info.bindAddr ?? ''}:${info.bindPort ?? 0}`;
    const link = forwards.get(key);
    if (link === undefined) return reject?.();
    link.client.unforwardIn(info.bindAddr ?? '', info.bindPort ?? 0, () => undefined);
    forwards.delete(key);
    return accept?.();
  }
  if (name !== 'tcpip-forward') return deny('unsupported');
  const target = scope.login.target;
  if (target === undefined) return deny('no-target');
  if (forwards.size >= MAX_REMOTE_FORWARDS) return deny('too-many-forwards');
  void (async () => {
    const link = await scope.linkFor(target);
    const bind = `${info.bindAddr ?? ''}:${info.bindPort ?? 0}`;
    if (!link.session.target.options.allowPortForwarding) {
      await scope.auditDenied(link, 'tcpip-forward', { bind });
      return reject?.();
    }
    const release = link.hold();
    link.client.forwardIn(info.bindAddr ?? '', info.bindPort ?? 0, (err, port) => {
      if (err !== undefined) {
        release();
        return reject?.();
      }
      // RFC 4254 §7.1: a cancel names the port actually bound (the one chosen for port 0).
      forwards.set(`${info.bindAddr ?? ''}:${port}`, link);
      conn.once('close', release);
      void scope
        .audit(link, 'ssh.port_forward', { kind: 'tcpip-forward', bind, port })
        .catch(() => undefined);
      accept?.(port);
    });
    if (LISTENING.has(link)) return;
    LISTENING.add(link);
    link.client.on('tcp connection', (details, acceptUp, rejectUp) => {
      conn.forwardOut(
        details.destIP,
        details.destPort,
        details.srcIP,
        details.srcPort,
        (err, channel) => {
          if (err !== undefined) return rejectUp();
          const upstream = acceptUp();
          pipeForward(channel, upstream, (bytesOut, bytesIn) => {
            void scope
              .audit(link, 'ssh.port_forward', {
                kind: 'forwarded-tcpip',
                source: `${details.srcIP}:${details.srcPort}`,
                destination: `${details.destIP}:${details.destPort}`,
                bytesFromClient: bytesOut,
                bytesToClient: bytesIn,
              })
              .catch(() => undefined);
          });
        },
      );
    });
  })().catch(() => reject?.());
}

/** Pipes two forwarding channels both ways with backpressure; reports byte counts once both close. */
export function pipeForward(
  client: ServerChannel | ClientChannel,
  upstream: ClientChannel | ServerChannel,
  onDone: (fromClient: number, toClient: number) => void,
): void {
  let fromClient = 0;
  let toClient = 0;
  client.on('data', (chunk: Buffer) => (fromClient += chunk.length));
  upstream.on('data', (chunk: Buffer) => (toClient += chunk.length));
  client.on('error', () => undefined);
  upstream.on('error', () => undefined);
  client.pipe(upstream);
  upstream.pipe(client);
  let closed = 0;
  const onClose = (): void => {
    closed += 1;
    if (closed === 1) {
      client.destroy();
      upstream.destroy();
    }
    if (closed === 2) onDone(fromClient, toClient);
  };
  client.once('close', onClose);
  upstream.once('close', onClose);
}
