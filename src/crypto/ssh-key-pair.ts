import { randomBytes } from 'node:crypto';
import ssh2 from 'ssh2';

/** An OpenSSH key pair: the private key (OpenSSH PEM) and the public key line. */
export interface OpenSshKeyPair {
  readonly privateKey: string;
  readonly publicKey: string;
}

const MAX_ATTEMPTS = 8;

/**
 * Generates an OpenSSH key pair with ssh2, checked: ssh2 1.17.0 drops a leading zero byte of
 * about one ed25519 public key in 256 (mscdex/ssh2#1390), making a key that never verifies.
 * Each pair must sign and verify a random message through its own public line, else it is
 * made again.
 */
export function generateOpenSshKeyPair(
  type: 'ed25519' | 'rsa',
  options: { comment?: string; bits?: number } = {},
): OpenSshKeyPair {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const pair =
      type === 'rsa'
        ? ssh2.utils.generateKeyPairSync('rsa', {
            bits: options.bits ?? 3072,
            ...(options.comment === undefined ? {} : { comment: options.comment }),
          })
        : ssh2.utils.generateKeyPairSync(
            'ed25519',
            options.comment === undefined ? {} : { comment: options.comment },
          );
    if (isConsistent(pair.private, pair.public))
      return { privateKey: pair.private, publicKey: pair.public };
  }
  throw new Error(`could not generate a consistent ${type} key pair`);
}

function isConsistent(privateText: string, publicLine: string): boolean {
  const privateKey = ssh2.utils.parseKey(privateText);
  const publicKey = ssh2.utils.parseKey(publicLine);
  if (privateKey instanceof Error || publicKey instanceof Error) return false;
  if (!privateKey.getPublicSSH().equals(publicKey.getPublicSSH())) return false;
  const message = randomBytes(32);
  const signature = privateKey.sign(message);
  return signature instanceof Buffer && publicKey.verify(message, signature) === true;
}
