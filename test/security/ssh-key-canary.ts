import type { Canary } from './canary-search.js';

const OPENSSH_MAGIC = 'openssh-key-v1\0';
const ED25519_SEED_BYTES = 32;

/**
 * The secret parts of an unencrypted OpenSSH Ed25519 private key file, as canaries: the
 * 32-byte seed (searched raw, in hex and in base64 at every alignment) and each base64 line
 * of the PEM body that carries seed bytes (the file's own text). Lines that hold only the
 * header or the public key are left out: they also appear wherever the public key does.
 */
export function sshKeyCanaries(pem: string, name: string): Canary[] {
  const lines = pem.split('\n').filter((line) => line !== '' && !line.startsWith('-----'));
  const blob = Buffer.from(lines.join(''), 'base64');
  const seedAt = seedOffset(blob);
  const canaries: Canary[] = [
    {
      name: `${name}-seed`,
      value: Buffer.from(blob.subarray(seedAt, seedAt + ED25519_SEED_BYTES)),
    },
  ];
  let charAt = 0;
  lines.forEach((line, i) => {
    // Base64: 4 characters carry 3 bytes; the line's characters cover these blob bytes.
    const firstByte = Math.floor((charAt * 3) / 4);
    const endByte = Math.ceil(((charAt + line.length) * 3) / 4);
    charAt += line.length;
    if (firstByte < seedAt + ED25519_SEED_BYTES && endByte > seedAt) {
      canaries.push({
        name: `${name}-pem-line-${i + 1}`,
        value: Buffer.from(line, 'latin1'),
        isWholeOnly: true,
      });
    }
  });
  return canaries;
}

// PROTOCOL.key (OpenSSH): magic, cipher, kdf, kdf options, key count, public key, then the
// private section: two check ints, key type, public key, private key (seed ‖ public), comment.
function seedOffset(blob: Buffer): number {
  if (blob.toString('latin1', 0, OPENSSH_MAGIC.length) !== OPENSSH_MAGIC)
    throw new Error('not an OpenSSH private key');
  let at = OPENSSH_MAGIC.length;
  const skipString = (): { start: number; end: number } => {
    const length = blob.readUInt32BE(at);
    const start = at + 4;
    at = start + length;
    return { start, end: at };
  };
  const cipher = skipString();
  if (blob.toString('latin1', cipher.start, cipher.end) !== 'none')
    throw new Error('the key must not be encrypted');
  skipString(); // kdf name
  skipString(); // kdf options
  at += 4; // number of keys
  skipString(); // public key
  const privateSection = skipString();
  at = privateSection.start + 8; // check ints
  const keyType = skipString();
  if (blob.toString('latin1', keyType.start, keyType.end) !== 'ssh-ed25519')
    throw new Error('an ed25519 key is expected');
  skipString(); // public key
  const secret = skipString();
  return secret.start;
}
