import { SshWireReader } from './ssh-wire.js';

/** SSH_MSG_USERAUTH_REQUEST (RFC 4252 §6). */
const SSH_MSG_USERAUTH_REQUEST = 50;

/** The fields of the data a client signs for publickey authentication (RFC 4252 §7). */
export interface PublickeySignedData {
  readonly sessionId: Buffer;
  /** The user name as the client sent it (may carry a target, e.g. `alice+web-1`). */
  readonly userName: string;
  readonly service: string;
  /** Signature algorithm name, e.g. `rsa-sha2-256` or `ssh-ed25519`. */
  readonly keyAlgo: string;
  readonly keyBlob: Buffer;
}

/**
 * Parses the blob signed in publickey authentication: session id, USERAUTH_REQUEST, user,
 * service, "publickey", TRUE, algorithm, key blob (RFC 4252 §7). Undefined when malformed.
 */
export function parsePublickeySignedData(data: Buffer): PublickeySignedData | undefined {
  const reader = new SshWireReader(data);
  const sessionId = reader.readString();
  if (sessionId === undefined || sessionId.length === 0) return undefined;
  if (reader.readByte() !== SSH_MSG_USERAUTH_REQUEST) return undefined;
  const userName = reader.readString();
  const service = reader.readString();
  const method = reader.readString();
  const hasSignature = reader.readByte();
  const keyAlgo = reader.readString();
  const keyBlob = reader.readString();
  if (
    userName === undefined ||
    service === undefined ||
    keyAlgo === undefined ||
    keyBlob === undefined
  ) {
    return undefined;
  }
  if (method?.toString('latin1') !== 'publickey' || hasSignature !== 1 || !reader.isAtEnd())
    return undefined;
  return {
    sessionId,
    userName: userName.toString('utf8'),
    service: service.toString('utf8'),
    keyAlgo: keyAlgo.toString('latin1'),
    keyBlob,
  };
}
