import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  type Stats,
} from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { newId } from '../core/ids.js';
import { GatehouseError } from '../core/errors.js';
import { writeSecretFile } from '../crypto/key-files.js';
import {
  AES_256_KEY_BYTES,
  GCM_IV_BYTES,
  GCM_TAG_BYTES,
  decodeBase64,
  decryptGcm,
  encryptGcm,
} from './aes-gcm.js';
import {
  contextAad,
  type DataKey,
  type EncryptionContext,
  type KmsProvider,
  type WrappedDataKey,
} from './kms.js';

/** The master key file: `{ v:1, activeKeyId, keys: { [keyId]: base64 32-byte key } }`, mode 0600. */
export interface LocalKeyFile {
  readonly v: 1;
  readonly activeKeyId: string;
  readonly keys: Readonly<Record<string, string>>;
}

/** The parsed key ring held in memory. */
interface KeyRing {
  readonly activeKeyId: string;
  readonly keys: ReadonlyMap<string, Buffer>;
}

/** Creates a new master key file with one active key (0600, never overwrites); returns its key id. */
export function createLocalKeyFile(path: string): string {
  const keyId = newMasterKeyId();
  const file: LocalKeyFile = {
    v: 1,
    activeKeyId: keyId,
    keys: { [keyId]: randomBytes(AES_256_KEY_BYTES).toString('base64') },
  };
  try {
    writeSecretFile(path, `${JSON.stringify(file, null, 2)}\n`);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) {
      throw new GatehouseError('GH_ALREADY_EXISTS', {
        message: 'the master key file already exists',
        detail: path,
        cause: err,
      });
    }
    throw err;
  }
  return keyId;
}

/**
 * Adds a new master key to the file and makes it active; old keys stay so old envelopes still
 * open. Returns the new key id. The file is replaced atomically (write then rename), and a
 * `.lock` file keeps two rotations from losing each other's key.
 */
export function rotateLocalKey(path: string): string {
  const lockPath = `${path}.lock`;
  let lock: number;
  try {
    lock = openSync(lockPath, 'wx', 0o600);
  } catch (err) {
    if (!isErrno(err, 'EEXIST'))
      throw unavailable('the master key file cannot be rotated', path, err);
    throw new GatehouseError('GH_ALREADY_EXISTS', {
      message: 'another master key rotation is in progress',
      hint: 'if none is, remove the .lock file next to the master key file',
      detail: lockPath,
      cause: err,
    });
  }
  const tmpPath = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const current = readKeyRingSync(path);
    const keyId = newMasterKeyId();
    const keys: Record<string, string> = {};
    for (const [id, key] of current.keys) keys[id] = key.toString('base64');
    keys[keyId] = randomBytes(AES_256_KEY_BYTES).toString('base64');
    const next: LocalKeyFile = { v: 1, activeKeyId: keyId, keys };
    writeSecretFile(tmpPath, `${JSON.stringify(next, null, 2)}\n`);
    renameSync(tmpPath, path);
    return keyId;
  } finally {
    rmSync(tmpPath, { force: true }); // only left behind when the rename did not happen
    closeSync(lock);
    rmSync(lockPath, { force: true });
  }
}

/**
 * Opens the local KMS over a master key file. The file is read now (so a bad file fails at
 * startup) and read again whenever it changes on disk, so a `kms rotate` run by the CLI is
 * seen by a running server without a restart.
 */
export async function openLocalKms(path: string): Promise<KmsProvider> {
  let loaded = await loadKeyRing(path);
  const ring = async (): Promise<KeyRing> => {
    const now = await stat(path).catch((err: unknown) => {
      throw unavailable('the master key file cannot be read', path, err);
    });
    // Old rings are never wiped: an operation that already holds one may still be using it.
    if (!isSameFile(now, loaded.stats)) loaded = await loadKeyRing(path);
    return loaded.ring;
  };

  const wrap = (keys: KeyRing, dataKey: Buffer, context: EncryptionContext): WrappedDataKey => {
    const master = keys.keys.get(keys.activeKeyId);
    if (master === undefined) throw unavailable('the active master key is missing', path);
    const parts = encryptGcm(master, dataKey, contextAad(context));
    return {
      keyId: keys.activeKeyId,
      wrappedKey: Buffer.concat([parts.iv, parts.tag, parts.ciphertext]).toString('base64'),
    };
  };

  const unwrap = (
    keys: KeyRing,
    wrappedKey: string,
    keyId: string,
    context: EncryptionContext,
  ): Buffer => {
    const master = keys.keys.get(keyId);
    if (master === undefined) {
      throw new GatehouseError('GH_KMS_UNAVAILABLE', {
        message: 'the master key of this secret is not available',
        hint: 'the master key file in use does not hold the key id the secret was sealed with',
        detail: `key id ${keyId} not in ${path}`,
      });
    }
    const bytes = decodeBase64(wrappedKey, 'wrapped key');
    if (bytes.length !== GCM_IV_BYTES + GCM_TAG_BYTES + AES_256_KEY_BYTES) {
      throw new GatehouseError('GH_CRYPTO_FAILED', { detail: 'wrapped key: bad length' });
    }
    const parts = {
      iv: bytes.subarray(0, GCM_IV_BYTES),
      tag: bytes.subarray(GCM_IV_BYTES, GCM_IV_BYTES + GCM_TAG_BYTES),
      ciphertext: bytes.subarray(GCM_IV_BYTES + GCM_TAG_BYTES),
    };
    return decryptGcm(master, parts, contextAad(context), 'wrapped key');
  };

  return {
    name: 'local',
    async generateDataKey(context): Promise<DataKey> {
      const keys = await ring();
      const plaintextKey = randomBytes(AES_256_KEY_BYTES);
      return { plaintextKey, ...wrap(keys, plaintextKey, context) };
    },
    async decryptDataKey(wrappedKey, keyId, context): Promise<Buffer> {
      return unwrap(await ring(), wrappedKey, keyId, context);
    },
    async rewrap(wrappedKey, keyId, context): Promise<WrappedDataKey> {
      const keys = await ring();
      const dataKey = unwrap(keys, wrappedKey, keyId, context);
      try {
        // Re-wrap even when already under the active key: it proves the context still matches.
        return wrap(keys, dataKey, context);
      } finally {
        dataKey.fill(0);
      }
    },
  };
}

interface LoadedRing {
  readonly ring: KeyRing;
  readonly stats: Stats;
}

async function loadKeyRing(path: string): Promise<LoadedRing> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw unavailable('the master key file cannot be read', path, err);
  }
  try {
    // fstat on the open handle: the mode checked is the mode of the bytes read.
    const stats = await handle.stat();
    assertOwnerOnly(stats, path);
    return { ring: parseKeyFile(await handle.readFile('utf8'), path), stats };
  } finally {
    await handle.close();
  }
}

function readKeyRingSync(path: string): KeyRing {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw unavailable('the master key file cannot be read', path, err);
  }
  try {
    assertOwnerOnly(fstatSync(fd), path);
    return parseKeyFile(readFileSync(fd, 'utf8'), path);
  } finally {
    closeSync(fd);
  }
}

/** Refuses a key file that group or others may read or write (mode & 0o077). */
function assertOwnerOnly(stats: Stats, path: string): void {
  if (process.platform === 'win32' || (stats.mode & 0o077) === 0) return;
  throw new GatehouseError('GH_KMS_UNAVAILABLE', {
    message: 'the master key file is accessible by other users',
    hint: 'restrict the kms.keyFile to its owner (chmod 600)',
    detail: `${path} has mode ${(stats.mode & 0o777).toString(8)}`,
  });
}

function parseKeyFile(text: string, path: string): KeyRing {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalidFile(path, 'not JSON', err);
  }
  if (raw === null || typeof raw !== 'object') throw invalidFile(path, 'not an object');
  const { v, activeKeyId, keys } = raw as Record<string, unknown>;
  if (v !== 1) throw invalidFile(path, `unsupported version ${String(v)}`);
  if (typeof activeKeyId !== 'string') throw invalidFile(path, 'activeKeyId missing');
  if (keys === null || typeof keys !== 'object' || Array.isArray(keys))
    throw invalidFile(path, 'keys missing');
  const ring = new Map<string, Buffer>();
  for (const [id, value] of Object.entries(keys as Record<string, unknown>)) {
    const key = typeof value === 'string' ? Buffer.from(value, 'base64') : undefined;
    if (key?.length !== AES_256_KEY_BYTES || key.toString('base64') !== value)
      throw invalidFile(path, `key ${id} is not ${AES_256_KEY_BYTES} bytes of base64`);
    ring.set(id, key);
  }
  if (!ring.has(activeKeyId)) throw invalidFile(path, `active key ${activeKeyId} not in keys`);
  return { activeKeyId, keys: ring };
}

function isSameFile(a: Stats, b: Stats): boolean {
  return (
    a.ino === b.ino &&
    a.dev === b.dev &&
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs
  );
}

function newMasterKeyId(): string {
  return newId('mk');
}

function invalidFile(path: string, why: string, cause?: unknown): GatehouseError {
  return new GatehouseError('GH_KMS_UNAVAILABLE', {
    message: 'the master key file is not valid',
    detail: `${path}: ${why}`,
    ...(cause === undefined ? {} : { cause }),
  });
}

function unavailable(message: string, path: string, cause?: unknown): GatehouseError {
  return new GatehouseError('GH_KMS_UNAVAILABLE', {
    message,
    detail: path,
    ...(cause === undefined ? {} : { cause }),
  });
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
