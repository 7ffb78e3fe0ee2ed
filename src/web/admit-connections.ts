import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Admission, ConnectionGate } from '../listen/index.js';

/**
 * Puts the web listener behind the connection gate: each TCP connection is admitted (or refused
 * by closing it: before TLS there is no way to say why) and must complete its TLS handshake and
 * its first request's headers within the login deadline. Later requests on a kept-alive
 * connection are bounded by Node's own `headersTimeout` and `keepAliveTimeout`.
 */
export function admitWebConnections(server: Server, gate: ConnectionGate): void {
  // Keyed by the client's address and port: the TLS socket a request arrives on is not the
  // TCP socket the gate saw, but it has the same remote end.
  const pending = new Map<string, Admission>();
  const keyOf = (socket: Socket): string =>
    `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
  server.on('connection', (socket: Socket) => {
    const admission = gate.admit(socket, { listener: 'web' });
    if (admission === undefined) return;
    const key = keyOf(socket);
    pending.set(key, admission);
    socket.once('close', () => pending.delete(key));
  });
  const onFirstRequest = (socket: Socket): void => {
    const key = keyOf(socket);
    const admission = pending.get(key);
    if (admission === undefined) return;
    pending.delete(key);
    admission.established();
  };
  server.on('request', (request: { socket: Socket }) => onFirstRequest(request.socket));
  server.on('upgrade', (request: { socket: Socket }) => onFirstRequest(request.socket));
}
