/** The MySQL front end: protocol/ (bytes ↔ packets), the connection phase, the upstream client, the relay. */
export { MysqlFrontEnd, type MysqlFrontEndOptions } from './front-end.js';
export { MysqlTransport, type LiveConnection, type MysqlTransportOptions } from './transport.js';
export {
  connectUpstream,
  UpstreamServerError,
  type UpstreamConnection,
  type UpstreamOptions,
  type UpstreamTlsMode,
} from './upstream.js';
export { errPacketFor } from './errors.js';
export { checkQuery, parseKill, type QueryVerdict } from './statement-policy.js';
