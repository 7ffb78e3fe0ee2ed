import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Key types the helpers create with ssh-keygen. */
export type SshKeyType = 'ed25519' | 'rsa' | 'ecdsa';

/** Options of {@link createSshKeyPair}. */
export interface SshKeyPairOptions {
  readonly type?: SshKeyType;
  /** RSA modulus or ECDSA curve size; ssh-keygen's default when absent. */
  readonly bits?: number;
  readonly comment?: string;
}

/** A client key pair in a private temp dir, usable with `ssh -i`; dispose it to delete the files. */
export interface SshKeyPair extends AsyncDisposable {
  readonly type: SshKeyType;
  /** The private key file (0600, OpenSSH format, no passphrase). */
  readonly privatePath: string;
  readonly publicPath: string;
  /** The private key file's bytes, as a leased credential would hold them. */
  readonly privateKey: Buffer;
  /** The OpenSSH public line `algo base64 comment`. */
  readonly publicLine: string;
  /** `SHA256:...`, as `ssh-keygen -lf` prints it. */
  readonly fingerprint: string;
  /** Deletes the key files (idempotent). */
  remove(): void;
}

/** Creates a key pair with `ssh-keygen -t TYPE -N ''` in a fresh 0700 temp dir. */
export async function createSshKeyPair(options: SshKeyPairOptions = {}): Promise<SshKeyPair> {
  const type = options.type ?? 'ed25519';
  const dir = mkdtempSync(join(tmpdir(), 'gh-key-'));
  const privatePath = join(dir, `id_${type}`);
  const publicPath = `${privatePath}.pub`;
  const remove = (): void => {
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const args = [
      '-q',
      '-t',
      type,
      '-N',
      '',
      '-C',
      options.comment ?? `gatehouse-test-${type}`,
      '-f',
      privatePath,
    ];
    if (options.bits !== undefined) args.push('-b', String(options.bits));
    await run('ssh-keygen', args);
    const fingerprint = await fingerprintWithSshKeygen(publicPath);
    return {
      type,
      privatePath,
      publicPath,
      privateKey: readFileSync(privatePath),
      publicLine: readFileSync(publicPath, 'utf8').trim(),
      fingerprint,
      remove,
      [Symbol.asyncDispose]: () => {
        remove();
        return Promise.resolve();
      },
    };
  } catch (err) {
    remove();
    throw err;
  }
}

/** The `SHA256:...` fingerprint `ssh-keygen -lf FILE` prints for a public key file. */
export async function fingerprintWithSshKeygen(publicPath: string): Promise<string> {
  const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicPath]);
  // "256 SHA256:abc... comment (ED25519)"
  const fingerprint = stdout.split(/\s+/)[1];
  if (fingerprint === undefined || !fingerprint.startsWith('SHA256:')) {
    throw new Error(`unexpected ssh-keygen -l output: ${stdout}`);
  }
  return fingerprint;
}
