import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { encodeSshStrings } from '../ssh-wire.js';

/** A key pair for tests: the OpenSSH public line and a signer producing what ssh2's server hands over. */
export interface TestSshKey {
  readonly publicLine: string;
  readonly blob: Buffer;
  readonly algo: string;
  /** Signs `data` (DER for ECDSA, as ssh2's server converts it); `hash` for RSA (`sha256`/`sha512`). */
  sign(data: Buffer, hash?: string): Buffer;
}

const EC_CURVES = {
  256: ['P-256', 'sha256'],
  384: ['P-384', 'sha384'],
  521: ['P-521', 'sha512'],
} as const;

/**
 * Generates a test key with node:crypto and encodes its public blob (RFC 4253 §6.6, RFC 5656,
 * RFC 8709). Not ssh2's generator: it corrupts about one Ed25519 key in 256 (mscdex/ssh2#1390).
 */
export function generateTestSshKey(
  type: 'ed25519' | 'ecdsa' | 'rsa',
  options: {
    readonly bits?: number;
    readonly ecdsaBits?: 256 | 384 | 521;
    readonly comment?: string;
  } = {},
): TestSshKey {
  let algo: string;
  let blob: Buffer;
  let privateKey: KeyObject;
  let defaultHash: string | null;
  if (type === 'ed25519') {
    const pair = generateKeyPairSync('ed25519');
    privateKey = pair.privateKey;
    algo = 'ssh-ed25519';
    blob = encodeSshStrings(algo, jwkBytes(pair.publicKey, 'x'));
    defaultHash = null;
  } else if (type === 'ecdsa') {
    const bits = options.ecdsaBits ?? 256;
    const [curve, hash] = EC_CURVES[bits];
    const pair = generateKeyPairSync('ec', { namedCurve: curve });
    privateKey = pair.privateKey;
    algo = `ecdsa-sha2-nistp${bits}`;
    const coordBytes = Math.ceil(bits / 8);
    const point = Buffer.concat([
      Buffer.from([4]),
      leftPad(jwkBytes(pair.publicKey, 'x'), coordBytes),
      leftPad(jwkBytes(pair.publicKey, 'y'), coordBytes),
    ]);
    blob = encodeSshStrings(algo, `nistp${bits}`, point);
    defaultHash = hash;
  } else {
    const pair = generateKeyPairSync('rsa', { modulusLength: options.bits ?? 2048 });
    privateKey = pair.privateKey;
    algo = 'ssh-rsa';
    blob = encodeSshStrings(
      algo,
      mpint(jwkBytes(pair.publicKey, 'e')),
      mpint(jwkBytes(pair.publicKey, 'n')),
    );
    defaultHash = 'sha1';
  }
  return {
    publicLine: `${algo} ${blob.toString('base64')} ${options.comment ?? 'test'}`,
    blob,
    algo,
    sign: (data, hash) => sign(hash ?? defaultHash, data, privateKey),
  };
}

/** The data a client signs for publickey auth (RFC 4252 §7). */
export function buildPublickeySignedData(fields: {
  readonly sessionId: Buffer;
  readonly userName: string;
  readonly keyAlgo: string;
  readonly keyBlob: Buffer;
  readonly service?: string;
}): Buffer {
  return Buffer.concat([
    encodeSshStrings(fields.sessionId),
    Buffer.from([50]),
    encodeSshStrings(fields.userName, fields.service ?? 'ssh-connection', 'publickey'),
    Buffer.from([1]),
    encodeSshStrings(fields.keyAlgo, fields.keyBlob),
  ]);
}

function jwkBytes(key: KeyObject, field: 'x' | 'y' | 'n' | 'e'): Buffer {
  const value = key.export({ format: 'jwk' })[field];
  if (typeof value !== 'string') throw new Error(`public key has no "${field}"`);
  return Buffer.from(value, 'base64url');
}

function leftPad(bytes: Buffer, length: number): Buffer {
  return Buffer.concat([Buffer.alloc(Math.max(0, length - bytes.length)), bytes]);
}

// RFC 4251 §5 mpint: big-endian two's complement, so a set top bit needs a leading zero.
function mpint(bytes: Buffer): Buffer {
  return (bytes[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}
