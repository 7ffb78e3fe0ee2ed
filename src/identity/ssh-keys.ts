import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import { GatehouseError } from '../core/errors.js';
import { SshWireReader } from './ssh-wire.js';

/** SSH public key algorithms accepted for users (no DSA, no certificates). */
export const SSH_KEY_ALGOS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
] as const;
/** One of {@link SSH_KEY_ALGOS}. */
export type SshKeyAlgo = (typeof SSH_KEY_ALGOS)[number];

/** Smallest RSA modulus accepted, in bits. */
export const MIN_RSA_BITS = 2048;

/** A parsed, validated OpenSSH public key. */
export interface SshPublicKey {
  readonly algo: SshKeyAlgo;
  /** The key blob (RFC 4253 §6.6 encoding), as in the base64 field of the line. */
  readonly blob: Buffer;
  readonly comment: string;
  /** `SHA256:` + unpadded base64 of SHA-256(blob), as `ssh-keygen -lf` prints it. */
  readonly fingerprint: string;
  /** Key size in bits (RSA modulus, curve size, 256 for Ed25519). */
  readonly bits: number;
  /** The canonical line `algo base64 [comment]`. */
  readonly line: string;
}

const ECDSA_POINT_BYTES: Readonly<Record<string, number>> = {
  nistp256: 65,
  nistp384: 97,
  nistp521: 133,
};

/**
 * Parses one OpenSSH public key line (`algo base64 [comment]`, as in `id_ed25519.pub`).
 * Throws GH_INVALID_ARGUMENT for anything else: DSA, certificates, RSA under
 * {@link MIN_RSA_BITS} bits, authorized_keys options, a blob that does not match its algorithm.
 */
export function parseSshPublicKey(line: string): SshPublicKey {
  const text = line.trim();
  // Comments are shown in the console and the CLI: no control characters, one line only.
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(text))
    throw invalidKey('the key line contains control characters');
  const match = /^(\S+)[ \t]+([A-Za-z0-9+/]+={0,2})(?:[ \t]+(.*))?$/.exec(text);
  if (match === null) throw invalidKey('expected "algorithm base64 [comment]"');
  const [, algoText = '', base64 = '', comment = ''] = match;
  if (algoText === 'ssh-dss')
    throw invalidKey('DSA keys are not accepted', 'use an Ed25519 key: ssh-keygen -t ed25519');
  if (!isSshKeyAlgo(algoText)) throw invalidKey(`unsupported key type "${algoText.slice(0, 64)}"`);
  const blob = Buffer.from(base64, 'base64');
  const bits = checkBlob(algoText, blob);
  const parsed = ssh2.utils.parseKey(`${algoText} ${base64}`);
  if (parsed instanceof Error || parsed.isPrivateKey() || !parsed.getPublicSSH().equals(blob)) {
    throw invalidKey('the key blob is malformed');
  }
  const canonical = `${algoText} ${blob.toString('base64')}`;
  return {
    algo: algoText,
    blob,
    comment: comment.trim(),
    fingerprint: sshKeyFingerprint(blob),
    bits,
    line: comment.trim() === '' ? canonical : `${canonical} ${comment.trim()}`,
  };
}

/** The `SHA256:` fingerprint of a key blob, exactly as `ssh-keygen -lf` prints it. */
export function sshKeyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * True only when `signature` over `data` verifies with the key in `storedKeyLine` (ssh2's
 * `verify` returning exactly `true`). `signature` is what ssh2's server hands over (ASN.1 for
 * ECDSA); `hashAlgo` is ssh2's `ctx.hashAlgo`. RSA must use rsa-sha2-256/512: SHA-1 `ssh-rsa`
 * signatures are refused (as OpenSSH does since 8.8); other keys take only their own hash.
 */
export function verifyPublicKeySignature(
  storedKeyLine: string,
  data: Buffer,
  signature: Buffer,
  hashAlgo?: string,
): boolean {
  let key: SshPublicKey;
  try {
    key = parseSshPublicKey(storedKeyLine);
  } catch {
    return false;
  }
  if (!isHashAllowed(key.algo, hashAlgo) || signature.length === 0) return false;
  const parsed = ssh2.utils.parseKey(`${key.algo} ${key.blob.toString('base64')}`);
  if (parsed instanceof Error) return false;
  // ssh2 returns an Error instead of throwing on malformed input; only `true` counts.
  const result: unknown =
    hashAlgo === undefined
      ? parsed.verify(data, signature)
      : parsed.verify(data, signature, hashAlgo);
  return result === true;
}

/** True for one of {@link SSH_KEY_ALGOS}. */
export function isSshKeyAlgo(text: string): text is SshKeyAlgo {
  return (SSH_KEY_ALGOS as readonly string[]).includes(text);
}

function isHashAllowed(algo: SshKeyAlgo, hashAlgo: string | undefined): boolean {
  switch (algo) {
    case 'ssh-rsa':
      return hashAlgo === 'sha256' || hashAlgo === 'sha512';
    case 'ssh-ed25519':
      return hashAlgo === undefined;
    case 'ecdsa-sha2-nistp256':
      return hashAlgo === undefined || hashAlgo === 'sha256';
    case 'ecdsa-sha2-nistp384':
      return hashAlgo === undefined || hashAlgo === 'sha384';
    case 'ecdsa-sha2-nistp521':
      return hashAlgo === undefined || hashAlgo === 'sha512';
  }
}

// Checks the blob field by field (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709 §4) and returns the bits.
function checkBlob(algo: SshKeyAlgo, blob: Buffer): number {
  const reader = new SshWireReader(blob);
  if (reader.readString()?.toString('latin1') !== algo)
    throw invalidKey('the key blob does not match its type');
  let bits: number;
  if (algo === 'ssh-ed25519') {
    if (reader.readString()?.length !== 32) throw invalidKey('the key blob is malformed');
    bits = 256;
  } else if (algo === 'ssh-rsa') {
    const e = reader.readString();
    const n = reader.readString();
    if (e === undefined || n === undefined) throw invalidKey('the key blob is malformed');
    bits = bitLength(n);
    if (bits < MIN_RSA_BITS) {
      throw invalidKey(
        `RSA keys must have at least ${MIN_RSA_BITS} bits (this one has ${bits})`,
        'use an Ed25519 key: ssh-keygen -t ed25519',
      );
    }
  } else {
    const curve = algo.slice('ecdsa-sha2-'.length);
    const curveName = reader.readString()?.toString('latin1');
    const point = reader.readString();
    if (
      curveName !== curve ||
      point === undefined ||
      point.length !== ECDSA_POINT_BYTES[curve] ||
      point[0] !== 4
    ) {
      throw invalidKey('the key blob is malformed');
    }
    bits = Number(curve.slice('nistp'.length));
  }
  if (!reader.isAtEnd()) throw invalidKey('the key blob has trailing bytes');
  return bits;
}

function bitLength(mpint: Buffer): number {
  let i = 0;
  while (i < mpint.length && mpint[i] === 0) i++;
  const first = mpint[i];
  if (first === undefined) return 0;
  return (mpint.length - i - 1) * 8 + (32 - Math.clz32(first));
}

function invalidKey(detail: string, hint?: string): GatehouseError {
  return new GatehouseError('GH_INVALID_ARGUMENT', {
    message: `invalid ssh public key: ${detail}`,
    ...(hint === undefined ? {} : { hint }),
  });
}
