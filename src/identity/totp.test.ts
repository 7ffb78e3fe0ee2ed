import { describe, expect, it } from 'vitest';
import {
  base32Decode,
  base32Encode,
  findTotpStep,
  generateTotpSecret,
  totpCode,
  totpStepAt,
  totpUri,
} from './totp.js';

// RFC 6238 Appendix B, SHA-1 rows: the seed is the ASCII string "12345678901234567890".
const RFC6238_SEED = Buffer.from('12345678901234567890', 'ascii');
const RFC6238_SHA1 = [
  { timeS: 59, code: '94287082' },
  { timeS: 1111111109, code: '07081804' },
  { timeS: 1111111111, code: '14050471' },
  { timeS: 1234567890, code: '89005924' },
  { timeS: 2000000000, code: '69279037' },
  { timeS: 20000000000, code: '65353130' },
];

describe('totp', () => {
  it.each(RFC6238_SHA1)('matches-rfc6238-appendix-b-sha1-at-$timeS', ({ timeS, code }) => {
    expect(totpCode(RFC6238_SEED, totpStepAt(timeS * 1000), 8)).toBe(code);
    // Six digits are the same truncation, modulo 10^6.
    expect(totpCode(RFC6238_SEED, totpStepAt(timeS * 1000))).toBe(code.slice(2));
  });

  it('accepts-one-step-of-drift-either-way-and-no-more', () => {
    const secret = generateTotpSecret();
    const at = 1_700_000_000_000;
    const now = totpStepAt(at);
    for (const step of [now - 1, now, now + 1])
      expect(findTotpStep(secret, totpCode(secret, step), at)).toBe(step);
    for (const step of [now - 2, now + 2]) {
      const code = totpCode(secret, step);
      const inWindow = [now - 1, now, now + 1].some((s) => totpCode(secret, s) === code);
      if (!inWindow) expect(findTotpStep(secret, code, at)).toBeUndefined();
    }
  });

  it('rejects-codes-that-are-not-six-digits', () => {
    const secret = generateTotpSecret();
    const at = 1_700_000_000_000;
    const code = totpCode(secret, totpStepAt(at));
    for (const bad of ['', `${code}0`, code.slice(1), 'abcdef', ` ${code}`]) {
      expect(findTotpStep(secret, bad, at)).toBeUndefined();
    }
  });

  it('base32-round-trips-rfc4648-vectors', () => {
    // RFC 4648 §10 without padding.
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'MY'],
      ['fo', 'MZXQ'],
      ['foo', 'MZXW6'],
      ['foob', 'MZXW6YQ'],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI'],
    ];
    for (const [plain, encoded] of vectors) {
      expect(base32Encode(Buffer.from(plain))).toBe(encoded);
      expect(base32Decode(encoded)?.toString()).toBe(plain);
    }
    expect(base32Decode('mzxw6ytboi======')?.toString()).toBe('foobar');
    expect(base32Decode('MZXW1')).toBeUndefined();
    const secret = generateTotpSecret();
    expect(base32Decode(base32Encode(secret))).toEqual(secret);
  });

  it('otpauth-uri-names-issuer-and-account', () => {
    const secret = Buffer.from('12345678901234567890');
    expect(totpUri('alice', secret)).toBe(
      'otpauth://totp/Gatehouse:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Gatehouse',
    );
  });
});
