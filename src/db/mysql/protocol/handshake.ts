/**
 * Connection phase packets (dev.mysql.com "Connection Phase Packets"): Protocol::HandshakeV10,
 * Protocol::SSLRequest, Protocol::HandshakeResponse41, Protocol::AuthSwitchRequest and
 * Protocol::AuthMoreData.
 */
import { AuthPlugin, Capability, Header, hasCapability } from './constants.js';
import { MysqlProtocolError, PayloadReader, PayloadWriter } from './wire.js';

/** Protocol::HandshakeV10, the server's greeting. */
export interface HandshakeV10 {
  readonly serverVersion: string;
  readonly connectionId: number;
  /** The scramble (nonce), usually 20 bytes, without the trailing NUL. */
  readonly authPluginData: Buffer;
  readonly capabilities: number;
  /** Collation id (lower 8 bits). */
  readonly charset: number;
  readonly statusFlags: number;
  /** Default authentication plugin; `mysql_native_password` when the server names none. */
  readonly authPluginName: string;
  /** MariaDB extended capabilities (the last 4 reserved bytes when CLIENT_LONG_PASSWORD is off). */
  readonly mariadbCapabilities?: number;
}

const PROTOCOL_VERSION = 10;

/** Encodes the greeting a server sends first. */
export function encodeHandshakeV10(h: HandshakeV10): Buffer {
  const data = h.authPluginData;
  const w = new PayloadWriter()
    .u8(PROTOCOL_VERSION)
    .nulString(h.serverVersion)
    .u32(h.connectionId)
    .bytes(data.subarray(0, 8))
    .u8(0)
    .u16(h.capabilities & 0xffff)
    .u8(h.charset)
    .u16(h.statusFlags)
    .u16((h.capabilities >>> 16) & 0xffff)
    .u8(hasCapability(h.capabilities, Capability.PLUGIN_AUTH) ? data.length + 1 : 0)
    .zeros(10);
  // auth-plugin-data-part-2: $len = MAX(13, length of auth-plugin-data − 8), NUL included.
  const part2 = data.subarray(8);
  w.bytes(part2).zeros(Math.max(13 - part2.length, 1));
  if (hasCapability(h.capabilities, Capability.PLUGIN_AUTH)) w.nulString(h.authPluginName);
  return w.toBuffer();
}

/** Decodes a server greeting; throws MysqlProtocolError for protocol versions other than 10. */
export function decodeHandshakeV10(payload: Buffer): HandshakeV10 {
  const r = new PayloadReader(payload);
  const version = r.u8();
  if (version !== PROTOCOL_VERSION)
    throw new MysqlProtocolError(`unsupported protocol version ${version}`);
  const serverVersion = r.nulString();
  const connectionId = r.u32();
  const part1 = r.bytes(8);
  r.skip(1);
  const capsLow = r.u16();
  if (r.isAtEnd) {
    return {
      serverVersion,
      connectionId,
      authPluginData: Buffer.from(part1),
      capabilities: capsLow,
      charset: 0,
      statusFlags: 0,
      authPluginName: AuthPlugin.NATIVE,
    };
  }
  const charset = r.u8();
  const statusFlags = r.u16();
  const capabilities = (capsLow | (r.u16() << 16)) >>> 0;
  const dataLength = r.u8();
  const reserved = r.bytes(10);
  let part2: Buffer = Buffer.alloc(0);
  if (hasCapability(capabilities, Capability.SECURE_CONNECTION)) {
    const length = Math.max(13, dataLength - 8);
    part2 = r.bytes(Math.min(length, r.remaining));
    // The last byte of part 2 is a NUL terminator, not scramble.
    if (part2.length > 0 && part2.readUInt8(part2.length - 1) === 0)
      part2 = part2.subarray(0, part2.length - 1);
  }
  const authPluginName =
    hasCapability(capabilities, Capability.PLUGIN_AUTH) && !r.isAtEnd
      ? r.nulStringOrRest()
      : AuthPlugin.NATIVE;
  const mariadb = hasCapability(capabilities, Capability.LONG_PASSWORD)
    ? undefined
    : reserved.readUInt32LE(6);
  return {
    serverVersion,
    connectionId,
    authPluginData: Buffer.concat([part1, part2]),
    capabilities,
    charset,
    statusFlags,
    authPluginName,
    ...(mariadb === undefined ? {} : { mariadbCapabilities: mariadb }),
  };
}

/** Protocol::SSLRequest: the first 32 bytes of a HandshakeResponse41, with CLIENT_SSL set. */
export interface SslRequest {
  readonly capabilities: number;
  readonly maxPacketSize: number;
  readonly charset: number;
}

/** Protocol::HandshakeResponse41. */
export interface HandshakeResponse41 {
  readonly capabilities: number;
  readonly maxPacketSize: number;
  readonly charset: number;
  readonly username: string;
  /** What the client's plugin computed (a scramble, a clear password…). */
  readonly authResponse: Buffer;
  /** Present when CLIENT_CONNECT_WITH_DB is set. */
  readonly database?: string;
  /** Present when CLIENT_PLUGIN_AUTH is set. */
  readonly authPluginName?: string;
  /** Connection attributes, in order (CLIENT_CONNECT_ATTRS). */
  readonly attributes?: readonly (readonly [string, string])[];
}

/** Length of an SSLRequest payload. */
export const SSL_REQUEST_LENGTH = 32;
/** Connection attributes a client may send (bytes); more is a protocol error. */
export const MAX_CONNECT_ATTRS_BYTES = 64 * 1024;

/** Encodes an SSLRequest. */
export function encodeSslRequest(req: SslRequest): Buffer {
  return new PayloadWriter()
    .u32(req.capabilities | Capability.SSL)
    .u32(req.maxPacketSize)
    .u8(req.charset)
    .zeros(23)
    .toBuffer();
}

/** True when a client's first response is an SSLRequest rather than a full handshake response. */
export function isSslRequest(payload: Buffer): boolean {
  return (
    payload.length === SSL_REQUEST_LENGTH && hasCapability(payload.readUInt32LE(0), Capability.SSL)
  );
}

/** Decodes an SSLRequest. */
export function decodeSslRequest(payload: Buffer): SslRequest {
  const r = new PayloadReader(payload);
  return { capabilities: r.u32(), maxPacketSize: r.u32(), charset: r.u8() };
}

/** Encodes a HandshakeResponse41 (as a client sends it). */
export function encodeHandshakeResponse41(res: HandshakeResponse41): Buffer {
  const caps = res.capabilities;
  const w = new PayloadWriter()
    .u32(caps)
    .u32(res.maxPacketSize)
    .u8(res.charset)
    .zeros(23)
    .nulString(res.username);
  if (hasCapability(caps, Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA))
    w.lenencString(res.authResponse);
  else if (hasCapability(caps, Capability.SECURE_CONNECTION)) {
    if (res.authResponse.length > 255)
      throw new RangeError('auth response too long without CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA');
    w.u8(res.authResponse.length).bytes(res.authResponse);
  } else w.nulString(res.authResponse);
  if (hasCapability(caps, Capability.CONNECT_WITH_DB)) w.nulString(res.database ?? '');
  if (hasCapability(caps, Capability.PLUGIN_AUTH)) w.nulString(res.authPluginName ?? '');
  if (hasCapability(caps, Capability.CONNECT_ATTRS)) {
    const attrs = new PayloadWriter();
    for (const [key, value] of res.attributes ?? []) attrs.lenencString(key).lenencString(value);
    w.lenencString(attrs.toBuffer());
  }
  return w.toBuffer();
}

/** Decodes a HandshakeResponse41; throws MysqlProtocolError when it is malformed or pre-4.1. */
export function decodeHandshakeResponse41(payload: Buffer): HandshakeResponse41 {
  const r = new PayloadReader(payload);
  const capabilities = r.u32();
  if (!hasCapability(capabilities, Capability.PROTOCOL_41))
    throw new MysqlProtocolError('client does not speak protocol 4.1');
  const maxPacketSize = r.u32();
  const charset = r.u8();
  r.skip(23);
  const username = r.nulString();
  let authResponse: Buffer;
  if (hasCapability(capabilities, Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA))
    authResponse = r.lenencBytes();
  else if (hasCapability(capabilities, Capability.SECURE_CONNECTION))
    authResponse = r.bytes(r.u8());
  else authResponse = r.nulBytes();
  let database: string | undefined;
  if (hasCapability(capabilities, Capability.CONNECT_WITH_DB) && !r.isAtEnd)
    database = r.nulStringOrRest();
  let authPluginName: string | undefined;
  if (hasCapability(capabilities, Capability.PLUGIN_AUTH) && !r.isAtEnd)
    authPluginName = r.nulStringOrRest();
  let attributes: [string, string][] | undefined;
  if (hasCapability(capabilities, Capability.CONNECT_ATTRS) && !r.isAtEnd) {
    const block = r.lenencBytes();
    if (block.length > MAX_CONNECT_ATTRS_BYTES)
      throw new MysqlProtocolError('connection attributes too large');
    const a = new PayloadReader(block);
    attributes = [];
    while (!a.isAtEnd) attributes.push([a.lenencString(), a.lenencString()]);
  }
  return {
    capabilities,
    maxPacketSize,
    charset,
    username,
    authResponse: Buffer.from(authResponse),
    ...(database === undefined ? {} : { database }),
    ...(authPluginName === undefined ? {} : { authPluginName }),
    ...(attributes === undefined ? {} : { attributes }),
  };
}

/** Protocol::AuthSwitchRequest: the server asks for another plugin. */
export interface AuthSwitchRequest {
  readonly pluginName: string;
  /** The new plugin's data (a fresh scramble), without the trailing NUL. */
  readonly pluginData: Buffer;
}

/** Encodes an AuthSwitchRequest (0xFE, plugin name, data, NUL as servers send it). */
export function encodeAuthSwitchRequest(req: AuthSwitchRequest): Buffer {
  return new PayloadWriter()
    .u8(Header.EOF)
    .nulString(req.pluginName)
    .bytes(req.pluginData)
    .u8(0)
    .toBuffer();
}

/** Decodes an AuthSwitchRequest (the caller checked the 0xFE header). */
export function decodeAuthSwitchRequest(payload: Buffer): AuthSwitchRequest {
  const r = new PayloadReader(payload, 1);
  // An old-style 0xFE alone means "use the 3.23 scramble": not supported, reported as no plugin.
  if (r.isAtEnd) return { pluginName: '', pluginData: Buffer.alloc(0) };
  const pluginName = r.nulStringOrRest();
  let pluginData = r.rest();
  if (pluginData.length > 0 && pluginData.readUInt8(pluginData.length - 1) === 0)
    pluginData = pluginData.subarray(0, pluginData.length - 1);
  return { pluginName, pluginData: Buffer.from(pluginData) };
}

/** Encodes Protocol::AuthMoreData (0x01 + data). */
export function encodeAuthMoreData(data: Buffer): Buffer {
  return new PayloadWriter().u8(Header.AUTH_MORE_DATA).bytes(data).toBuffer();
}

/** The data of an AuthMoreData packet (the caller checked the 0x01 header). */
export function decodeAuthMoreData(payload: Buffer): Buffer {
  return payload.subarray(1);
}
