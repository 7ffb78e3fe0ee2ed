import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../core/canonical-json.js';
import { isGatehouseError } from '../core/errors.js';
import { makeSigner } from '../crypto/key-files.js';
import {
  SESSION_GRANT_TTL_MS,
  issueSessionGrant,
  readSessionGrantUnverified,
  verifySessionGrant,
  type SessionGrantClaims,
} from './session-grant.js';

const NOW = 1_800_000_000_000;
const claims: SessionGrantClaims = {
  sid: 'ses_1',
  user: 'alice',
  target: 'web-1',
  targetId: 'tgt_1',
  gateway: 'gw_a',
  grantId: 'gr_1',
};
const controlPlane = makeSigner(generateKeyPairSync('ed25519').privateKey);
const isInvalid = (e: unknown): boolean => isGatehouseError(e, 'GH_GRANT_INVALID');

describe('session grant', () => {
  it('issued-grant-verifies-and-carries-its-claims', () => {
    const token = issueSessionGrant(controlPlane, claims, { now: NOW });
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(verifySessionGrant(token, controlPlane.publicKey, NOW + 1000)).toEqual({
      v: 1,
      ...claims,
      iat: NOW,
      exp: NOW + SESSION_GRANT_TTL_MS,
    });
  });

  it('expired-grant-is-refused', () => {
    const token = issueSessionGrant(controlPlane, claims, { now: NOW });
    expect(() =>
      verifySessionGrant(token, controlPlane.publicKey, NOW + SESSION_GRANT_TTL_MS),
    ).toThrow(expect.toSatisfy(isInvalid));
  });

  it('grant-never-outlives-the-access-grant-behind-it', () => {
    const token = issueSessionGrant(controlPlane, claims, { now: NOW, notAfter: NOW + 5000 });
    expect(readSessionGrantUnverified(token).exp).toBe(NOW + 5000);
    expect(() => issueSessionGrant(controlPlane, claims, { now: NOW, notAfter: NOW })).toThrow(
      expect.toSatisfy(isInvalid),
    );
  });

  it('forged-grant-signed-by-another-key-is-refused', () => {
    const forger = makeSigner(generateKeyPairSync('ed25519').privateKey);
    const token = issueSessionGrant(forger, claims, { now: NOW });
    expect(() => verifySessionGrant(token, controlPlane.publicKey, NOW)).toThrow(
      expect.toSatisfy(isInvalid),
    );
  });

  it('tampered-claims-fail-the-signature', () => {
    const token = issueSessionGrant(controlPlane, claims, { now: NOW });
    const [, sig = ''] = token.split('.');
    const changed = { ...readSessionGrantUnverified(token), gateway: 'gw_b' };
    const forged = `${Buffer.from(canonicalJson(changed)).toString('base64url')}.${sig}`;
    expect(() => verifySessionGrant(forged, controlPlane.publicKey, NOW)).toThrow(
      expect.toSatisfy(isInvalid),
    );
  });

  it('malformed-tokens-are-refused-as-invalid-grants', () => {
    const token = issueSessionGrant(controlPlane, claims, { now: NOW });
    const [body = '', sig = ''] = token.split('.');
    for (const bad of [
      '',
      'x',
      `${body}.`,
      `${body}.${sig}.x`,
      `${body}=.${sig}`,
      `${sig}.${body}`,
    ]) {
      expect(() => verifySessionGrant(bad, controlPlane.publicKey, NOW), bad).toThrow(
        expect.toSatisfy(isInvalid),
      );
    }
  });

  it('a-signed-but-non-canonical-or-overlong-grant-is-refused', () => {
    const sign = (payload: string): string => {
      const bytes = Buffer.from(payload);
      const sig = Buffer.from(
        controlPlane.sign(Buffer.concat([Buffer.from('gatehouse-session-grant.v1\n'), bytes])),
        'base64',
      );
      return `${bytes.toString('base64url')}.${sig.toString('base64url')}`;
    };
    const grant = { v: 1, ...claims, iat: NOW, exp: NOW + 1000 };
    expect(verifySessionGrant(sign(canonicalJson(grant)), controlPlane.publicKey, NOW).sid).toBe(
      'ses_1',
    );
    expect(() =>
      verifySessionGrant(sign(JSON.stringify(grant, null, 1)), controlPlane.publicKey, NOW),
    ).toThrow(expect.toSatisfy(isInvalid));
    const overlong = canonicalJson({ ...grant, exp: NOW + 86_400_000 });
    expect(() => verifySessionGrant(sign(overlong), controlPlane.publicKey, NOW)).toThrow(
      expect.toSatisfy(isInvalid),
    );
    const extra = canonicalJson({ ...grant, admin: true });
    expect(() => verifySessionGrant(sign(extra), controlPlane.publicKey, NOW)).toThrow(
      expect.toSatisfy(isInvalid),
    );
  });
});
