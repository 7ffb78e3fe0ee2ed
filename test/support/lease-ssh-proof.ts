import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { SshPublicKeyProof } from '../../src/lease/user-proof.js';

/** SSH_MSG_USERAUTH_REQUEST (RFC 4252 §6). */
const SSH_MSG_USERAUTH_REQUEST = 50;

/** An Ed25519 user key made with node:crypto, with its SSH key blob and OpenSSH line. */
export interface TestEd25519Key {
  readonly privateKey: KeyObject;
  /** RFC 8709 §4 blob: string "ssh-ed25519", string 32-byte public key. */
  readonly blob: Buffer;
  readonly line: string;
  /** `SHA256:` fingerprint of the blob, as ssh-keygen prints it. */
  readonly fingerprint: string;
}

/** Generates an Ed25519 key with node:crypto and encodes its public half as SSH does. */
export function makeEd25519UserKey(): TestEd25519Key {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  const blob = sshStrings('ssh-ed25519', raw);
  return {
    privateKey,
    blob,
    line: `ssh-ed25519 ${blob.toString('base64')} test`,
    fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`,
  };
}

/** Encodes SSH `string` fields (uint32 length + bytes) back to back (RFC 4251 §5). */
export function sshStrings(...fields: readonly (Buffer | string)[]): Buffer {
  return Buffer.concat(
    fields.flatMap((field) => {
      const bytes = typeof field === 'string' ? Buffer.from(field, 'utf8') : field;
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      return [len, bytes];
    }),
  );
}

/**
 * The bytes a client signs for publickey auth (RFC 4252 §7): string session id, byte 50,
 * string user, string service, string "publickey", boolean TRUE, string algo, string key blob.
 */
export function buildUserauthSignedData(fields: {
  readonly sessionId: Buffer;
  readonly userName: string;
  readonly keyBlob: Buffer;
  readonly algo?: string;
  readonly service?: string;
}): Buffer {
  return Buffer.concat([
    sshStrings(fields.sessionId),
    Buffer.from([SSH_MSG_USERAUTH_REQUEST]),
    sshStrings(fields.userName, fields.service ?? 'ssh-connection', 'publickey'),
    Buffer.from([1]),
    sshStrings(fields.algo ?? 'ssh-ed25519', fields.keyBlob),
  ]);
}

/** A publickey proof as a gateway would forward it, signed for real with `key`. */
export function signedSshProof(
  key: TestEd25519Key,
  options: {
    readonly user: string;
    readonly loginName?: string;
    readonly sessionId?: Buffer;
    readonly service?: string;
  },
): SshPublicKeyProof {
  const signedData = buildUserauthSignedData({
    sessionId: options.sessionId ?? randomBytes(32),
    userName: options.loginName ?? options.user,
    keyBlob: key.blob,
    ...(options.service === undefined ? {} : { service: options.service }),
  });
  return {
    kind: 'ssh-publickey',
    user: options.user,
    algo: 'ssh-ed25519',
    keyBlob: key.blob.toString('base64'),
    signedData: signedData.toString('base64'),
    signature: sign(null, signedData, key.privateKey).toString('base64'),
  };
}
