import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../core/errors.js';
import { openSealedBox, sealToGateway, type SealedBox } from './seal.js';

const SECRET = Buffer.from('leased-account-password');

function gatewayKey(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('x25519');
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    if (err instanceof GatehouseError) return err.code;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('sealed box to a gateway', () => {
  it('opens-with-the-right-gateway-key-and-lease-id', () => {
    const gateway = gatewayKey();
    const box = sealToGateway(gateway.publicKey, SECRET, 'lse_1');
    expect(Object.keys(box).sort()).toEqual(['ciphertext', 'epk', 'iv', 'tag', 'v']);
    expect(Buffer.from(box.epk, 'base64')).toHaveLength(32);
    expect(openSealedBox(gateway.privateKey, box, 'lse_1')).toEqual(SECRET);
    // Survives the JSON trip it makes on the wire.
    expect(
      openSealedBox(gateway.privateKey, JSON.parse(JSON.stringify(box)) as SealedBox, 'lse_1'),
    ).toEqual(SECRET);
  });

  it('each-seal-uses-a-fresh-ephemeral-key', () => {
    const gateway = gatewayKey();
    const a = sealToGateway(gateway.publicKey, SECRET, 'lse_1');
    const b = sealToGateway(gateway.publicKey, SECRET, 'lse_1');
    expect(a.epk).not.toBe(b.epk);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  it('another-gateway-key-cannot-open-it', () => {
    const box = sealToGateway(gatewayKey().publicKey, SECRET, 'lse_1');
    expect(codeOf(() => openSealedBox(gatewayKey().privateKey, box, 'lse_1'))).toBe(
      'GH_CRYPTO_FAILED',
    );
  });

  it('another-lease-id-cannot-open-it', () => {
    const gateway = gatewayKey();
    const box = sealToGateway(gateway.publicKey, SECRET, 'lse_1');
    expect(codeOf(() => openSealedBox(gateway.privateKey, box, 'lse_2'))).toBe('GH_CRYPTO_FAILED');
  });

  it('a-swapped-ephemeral-key-or-corrupted-tag-fails', () => {
    const gateway = gatewayKey();
    const a = sealToGateway(gateway.publicKey, SECRET, 'lse_1');
    const b = sealToGateway(gateway.publicKey, SECRET, 'lse_1');
    expect(codeOf(() => openSealedBox(gateway.privateKey, { ...a, epk: b.epk }, 'lse_1'))).toBe(
      'GH_CRYPTO_FAILED',
    );
    const tag = Buffer.from(a.tag, 'base64');
    tag[15] = (tag[15] ?? 0) ^ 0xff;
    expect(
      codeOf(() =>
        openSealedBox(gateway.privateKey, { ...a, tag: tag.toString('base64') }, 'lse_1'),
      ),
    ).toBe('GH_CRYPTO_FAILED');
  });

  it('a-low-order-ephemeral-key-is-refused', () => {
    const gateway = gatewayKey();
    const box = sealToGateway(gateway.publicKey, SECRET, 'lse_1');
    // The all-zero point makes the shared secret zero whatever the private key.
    expect(
      codeOf(() =>
        openSealedBox(
          gateway.privateKey,
          { ...box, epk: Buffer.alloc(32).toString('base64') },
          'lse_1',
        ),
      ),
    ).toBe('GH_CRYPTO_FAILED');
  });

  it('malformed-boxes-are-crypto-failures', () => {
    const gateway = gatewayKey();
    const box = sealToGateway(gateway.publicKey, SECRET, 'lse_1');
    const bad: unknown[] = [{ ...box, v: 2 }, { ...box, iv: 7 }, { ...box, epk: 'short' }, null];
    for (const value of bad) {
      expect(codeOf(() => openSealedBox(gateway.privateKey, value as SealedBox, 'lse_1'))).toBe(
        'GH_CRYPTO_FAILED',
      );
    }
  });

  it('keys-of-the-wrong-type-are-refused', () => {
    const signing = generateKeyPairSync('ed25519');
    const gateway = gatewayKey();
    expect(codeOf(() => sealToGateway(signing.publicKey, SECRET, 'lse_1'))).toBe(
      'GH_INVALID_ARGUMENT',
    );
    const box = sealToGateway(gateway.publicKey, SECRET, 'lse_1');
    expect(codeOf(() => openSealedBox(signing.privateKey, box, 'lse_1'))).toBe(
      'GH_INVALID_ARGUMENT',
    );
    expect(codeOf(() => openSealedBox(createPublicKey(gateway.privateKey), box, 'lse_1'))).toBe(
      'GH_INVALID_ARGUMENT',
    );
  });
});
