/** The MySQL front end: protocol/ (bytes ↔ packets), the connection phase, the upstream client, the relay. */
export { MysqlFrontEnd, type MysqlFrontEndOptions } from './front-end.js';
export { MysqlTransport, type LiveConnection, type MysqlTransportOptions } from './transport.js';
export { connectUpstream, type UpstreamConnection, type UpstreamOptions } from './upstream.js';
export { UpstreamServerError } from './upstream-login.js';
export type { UpstreamTlsMode } from './upstream-socket.js';
export { errPacketFor } from './errors.js';
export { checkQuery, parseKill, type QueryVerdict } from './statement-policy.js';
