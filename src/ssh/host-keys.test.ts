import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isGatehouseError } from '../core/errors.js';
import {
  createSshKeyPair,
  fingerprintWithSshKeygen,
  type SshKeyPair,
} from '../../test/support/ssh-keys.js';
import { startSshd, type Sshd } from '../../test/support/sshd.js';
import {
  fetchHostKey,
  hostKeyLine,
  makeHostVerifier,
  parseHostKeyBlob,
  parseHostKeyLine,
  upstreamAlgorithms,
  type HostKeyVerifier,
} from './host-keys.js';

/** Runs an ssh2-style verifier and resolves with its answer. */
function verdict(verifier: HostKeyVerifier, blob: Buffer): Promise<boolean> {
  return new Promise((resolve) => verifier(blob, resolve));
}

function blobOf(line: string): Buffer {
  return Buffer.from(line.split(' ')[1] ?? '', 'base64');
}

describe('host key encoding', () => {
  let keys: SshKeyPair[] = [];
  beforeAll(async () => {
    keys = await Promise.all(
      (['ed25519', 'ecdsa', 'rsa'] as const).map((type) =>
        createSshKeyPair({ type, comment: `c-${type}` }),
      ),
    );
  });
  afterAll(() => {
    for (const key of keys) key.remove();
  });

  it('fingerprint-of-host-key-equals-ssh-keygen-for-every-key-type', () => {
    for (const key of keys) {
      expect(parseHostKeyBlob(blobOf(key.publicLine)).fingerprint).toBe(key.fingerprint);
    }
  });

  it('host-key-line-is-type-and-base64-without-comment', () => {
    for (const key of keys) {
      const [type, base64] = key.publicLine.split(' ');
      expect(hostKeyLine(blobOf(key.publicLine))).toBe(`${type} ${base64}`);
    }
  });

  it('pinned-line-parses-with-or-without-comment', () => {
    const key = keys[0];
    if (key === undefined) throw new Error('no key');
    const parsed = parseHostKeyLine(key.publicLine);
    expect(parsed.type).toBe('ssh-ed25519');
    expect(parsed.fingerprint).toBe(key.fingerprint);
    expect(parseHostKeyLine(parsed.line).blob.equals(parsed.blob)).toBe(true);
  });

  it('malformed-or-unsupported-host-keys-are-invalid-arguments', () => {
    const ed = keys[0]?.publicLine ?? '';
    const rsa = keys[2]?.publicLine ?? '';
    const bad = [
      'not a key',
      `ssh-rsa ${ed.split(' ')[1] ?? ''}`, // the line's type disagrees with the blob
      `ssh-dss ${Buffer.from('\u0000\u0000\u0000\u0007ssh-dss').toString('base64')}`,
      `ssh-ed25519 ${Buffer.from([0, 0, 0, 200, 1]).toString('base64')}`, // truncated
      `${rsa.split(' ')[0] ?? ''} ${blobOf(rsa).subarray(0, 40).toString('base64')}`, // cut blob
    ];
    for (const line of bad) {
      let caught: unknown;
      try {
        parseHostKeyLine(line);
      } catch (err) {
        caught = err;
      }
      expect(isGatehouseError(caught, 'GH_INVALID_ARGUMENT'), line).toBe(true);
    }
  });

  it('upstream-algorithms-put-the-pinned-key-type-first-and-leave-out-sha1', () => {
    const rsa = keys[2]?.publicLine ?? '';
    const algorithms = upstreamAlgorithms(rsa);
    expect(algorithms.serverHostKey).toEqual(expect.arrayContaining(['ssh-ed25519']));
    expect(
      Array.isArray(algorithms.serverHostKey) ? algorithms.serverHostKey.slice(0, 2) : [],
    ).toEqual(['rsa-sha2-512', 'rsa-sha2-256']);
    const everything = JSON.stringify(upstreamAlgorithms(null));
    expect(everything).not.toMatch(/sha1|"ssh-rsa"|cbc|zlib/);
  });
});

describe('makeHostVerifier', () => {
  let pinned: SshKeyPair;
  let other: SshKeyPair;
  beforeAll(async () => {
    [pinned, other] = await Promise.all([createSshKeyPair(), createSshKeyPair()]);
  });
  afterAll(() => {
    pinned.remove();
    other.remove();
  });

  it('pinned-key-is-accepted', async () => {
    const onMismatch = vi.fn();
    const verifier = makeHostVerifier(pinned.publicLine, { trustOnFirstUse: false, onMismatch });
    expect(await verdict(verifier, blobOf(pinned.publicLine))).toBe(true);
    expect(onMismatch).not.toHaveBeenCalled();
  });

  it('another-key-is-refused-and-reported-with-its-fingerprint', async () => {
    const onMismatch = vi.fn();
    const verifier = makeHostVerifier(pinned.publicLine, { trustOnFirstUse: true, onMismatch });
    expect(await verdict(verifier, blobOf(other.publicLine))).toBe(false);
    expect(onMismatch).toHaveBeenCalledWith(
      other.fingerprint,
      expect.objectContaining({ type: 'ssh-ed25519' }),
    );
  });

  it('the-whole-blob-is-compared-not-a-prefix', async () => {
    const verifier = makeHostVerifier(pinned.publicLine, { trustOnFirstUse: false });
    const longer = Buffer.concat([blobOf(pinned.publicLine), Buffer.from([0])]);
    expect(await verdict(verifier, longer)).toBe(false);
  });

  it('unpinned-key-without-tofu-is-refused', async () => {
    const onUnpinned = vi.fn();
    const onFirstUse = vi.fn();
    const verifier = makeHostVerifier(null, { trustOnFirstUse: false, onUnpinned, onFirstUse });
    expect(await verdict(verifier, blobOf(other.publicLine))).toBe(false);
    expect(onUnpinned).toHaveBeenCalledOnce();
    expect(onFirstUse).not.toHaveBeenCalled();
  });

  it('tofu-reports-the-line-then-holds-the-key-for-re-keys', async () => {
    const onFirstUse = vi.fn(() => Promise.resolve());
    const verifier = makeHostVerifier(null, { trustOnFirstUse: true, onFirstUse });
    expect(await verdict(verifier, blobOf(other.publicLine))).toBe(true);
    expect(onFirstUse).toHaveBeenCalledWith(other.publicLine.split(' ').slice(0, 2).join(' '));
    // A re-key on the same connection must show the same key.
    expect(await verdict(verifier, blobOf(other.publicLine))).toBe(true);
    expect(await verdict(verifier, blobOf(pinned.publicLine))).toBe(false);
    expect(onFirstUse).toHaveBeenCalledOnce();
  });

  it('tofu-refuses-when-recording-the-key-fails', async () => {
    const onError = vi.fn();
    const verifier = makeHostVerifier(null, {
      trustOnFirstUse: true,
      onFirstUse: () => Promise.reject(new Error('store down')),
      onError,
    });
    expect(await verdict(verifier, blobOf(other.publicLine))).toBe(false);
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'store down' }));
  });

  it('a-throwing-hook-still-refuses-the-key', async () => {
    const onError = vi.fn();
    const verifier = makeHostVerifier(pinned.publicLine, {
      trustOnFirstUse: false,
      onMismatch: () => {
        throw new Error('hook bug');
      },
      onError,
    });
    expect(await verdict(verifier, blobOf(other.publicLine))).toBe(false);
    expect(onError).toHaveBeenCalledOnce();
  });

  it('a-garbage-key-blob-is-refused', async () => {
    const verifier = makeHostVerifier(null, { trustOnFirstUse: true });
    expect(await verdict(verifier, Buffer.from('garbage'))).toBe(false);
  });
});

describe('fetchHostKey against a real sshd', () => {
  let sshd: Sshd;
  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519', 'rsa'] });
  });
  afterAll(async () => {
    await sshd[Symbol.asyncDispose]();
  });

  it('fetched-fingerprint-equals-ssh-keygen-of-the-servers-host-key', async () => {
    const key = await fetchHostKey({ host: sshd.host, port: sshd.port, timeoutMs: 5_000 });
    expect(key.fingerprint).toBe(await fingerprintWithSshKeygen(sshd.hostKeyPublicPath));
    expect(key.fingerprint).toBe(sshd.hostKeyFingerprint);
    expect(key.line).toBe(sshd.hostKeyLine);
  });

  it('fetch-can-ask-for-the-rsa-key-of-a-server-with-several', async () => {
    const key = await fetchHostKey({ host: sshd.host, port: sshd.port, preferredType: 'ssh-rsa' });
    expect(key.type).toBe('ssh-rsa');
    expect(key.line).toBe(sshd.hostKeyLines.rsa);
  });

  it('fetch-makes-no-authentication-attempt', async () => {
    const before = sshd.readLog().length;
    await fetchHostKey({ host: sshd.host, port: sshd.port });
    const logged = await sshd.connectionLog(before);
    expect(logged).toMatch(/Connection from/);
    expect(logged).not.toMatch(/Accepted|Failed|Invalid user|authenticating user|gatehouse-trust/);
  });

  it('fetch-from-a-closed-port-is-unreachable', async () => {
    const started = Date.now();
    await expect(
      fetchHostKey({ host: '127.0.0.1', port: 1, timeoutMs: 5_000 }),
    ).rejects.toMatchObject({
      code: 'GH_UPSTREAM_UNREACHABLE',
      detail: expect.stringContaining('127.0.0.1:1') as unknown,
    });
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
