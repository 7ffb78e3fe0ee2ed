import { describe, expect, it } from 'vitest';
import { saslPrepLite } from './saslprep.js';
import {
  createMockScramVerifier,
  deriveScramVerifier,
  formatScramVerifier,
  parseScramVerifier,
  ScramServerExchange,
  type ScramVerifier,
} from './scram.js';
import { ScramTestClient } from './testing/scram-client.js';

// RFC 7677 §3: user "user", password "pencil".
const RFC7677 = {
  salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  serverFirst:
    'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

async function verifierFor(password: string): Promise<ScramVerifier> {
  const v = parseScramVerifier(await deriveScramVerifier(password));
  if (v === undefined) throw new Error('derived verifier does not parse');
  return v;
}

describe('scram-sha-256', () => {
  it('server-exchange-reproduces-rfc7677-test-vector', async () => {
    const text = await deriveScramVerifier('pencil', {
      salt: Buffer.from(RFC7677.salt, 'base64'),
      iterations: 4096,
    });
    const verifier = parseScramVerifier(text);
    expect(verifier).toBeDefined();
    if (verifier === undefined) return;
    const exchange = new ScramServerExchange(verifier, { serverNonce: RFC7677.serverNonce });
    expect(exchange.handleClientFirst(RFC7677.clientFirst)).toEqual({
      ok: true,
      message: RFC7677.serverFirst,
    });
    expect(exchange.handleClientFinal(RFC7677.clientFinal)).toEqual({
      ok: true,
      message: RFC7677.serverFinal,
    });
    expect(exchange.isDone).toBe(true);
  });

  it('verifier-round-trips-through-postgresql-text-form', async () => {
    const text = await deriveScramVerifier('pw');
    expect(text).toMatch(
      /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/,
    );
    const parsed = parseScramVerifier(text);
    expect(parsed).toBeDefined();
    if (parsed !== undefined) expect(formatScramVerifier(parsed)).toBe(text);
    for (const bad of [
      '',
      'md5abc',
      text.replace('SCRAM-SHA-256', 'SCRAM-SHA-1'),
      text.replace('$4096:', '$0:'),
      text.slice(0, -4),
    ]) {
      expect(parseScramVerifier(bad)).toBeUndefined();
    }
  });

  it('right-password-passes-and-server-proves-itself', async () => {
    const verifier = await verifierFor('s3cret');
    const client = new ScramTestClient();
    const exchange = new ScramServerExchange(verifier);
    const first = exchange.handleClientFirst(client.clientFirst);
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    const final = exchange.handleClientFinal(client.clientFinal(first.message, 's3cret'));
    expect(final.ok).toBe(true);
    if (final.ok) expect(client.isServerFinalValid(final.message)).toBe(true);
  });

  it('wrong-password-gives-bad-proof', async () => {
    const exchange = new ScramServerExchange(await verifierFor('s3cret'));
    const client = new ScramTestClient();
    const first = exchange.handleClientFirst(client.clientFirst);
    if (!first.ok) throw new Error('client-first refused');
    expect(exchange.handleClientFinal(client.clientFinal(first.message, 's3cre'))).toEqual({
      ok: false,
      reason: 'bad-proof',
    });
  });

  it('y-flag-is-accepted-unless-channel-binding-was-advertised', async () => {
    const verifier = await verifierFor('pw');
    const client = new ScramTestClient({ gs2Header: 'y,,' });
    const exchange = new ScramServerExchange(verifier);
    const first = exchange.handleClientFirst(client.clientFirst);
    if (!first.ok) throw new Error('client-first refused');
    expect(exchange.handleClientFinal(client.clientFinal(first.message, 'pw')).ok).toBe(true);
    const downgraded = new ScramServerExchange(verifier, { isChannelBindingAdvertised: true });
    expect(downgraded.handleClientFirst(client.clientFirst)).toEqual({
      ok: false,
      reason: 'channel-binding-mismatch',
    });
  });

  it('channel-binding-plus-authzid-and-mext-are-refused', async () => {
    const verifier = await verifierFor('pw');
    for (const msg of [
      'p=tls-server-end-point,,n=,r=abc',
      'n,a=bob,n=,r=abc',
      'n,,m=ext,n=,r=abc',
    ]) {
      expect(new ScramServerExchange(verifier).handleClientFirst(msg)).toEqual({
        ok: false,
        reason: 'unsupported-feature',
      });
    }
  });

  it('malformed-client-first-is-refused', async () => {
    const verifier = await verifierFor('pw');
    for (const msg of [
      '',
      'n,,',
      'n,,n=',
      'n,,n=,r=',
      'x,,n=,r=abc',
      'n,,r=abc,n=',
      'n,,n=,r=a\u00e9',
    ]) {
      expect(new ScramServerExchange(verifier).handleClientFirst(msg)).toEqual({
        ok: false,
        reason: 'malformed-message',
      });
    }
  });

  it('client-final-must-echo-gs2-header-and-full-nonce', async () => {
    const verifier = await verifierFor('pw');
    const run = (tamper: (final: string) => string): unknown => {
      const client = new ScramTestClient();
      const exchange = new ScramServerExchange(verifier);
      const first = exchange.handleClientFirst(client.clientFirst);
      if (!first.ok) throw new Error('client-first refused');
      return exchange.handleClientFinal(tamper(client.clientFinal(first.message, 'pw')));
    };
    expect(run((f) => f.replace('c=biws', 'c=eSws'))).toEqual({
      ok: false,
      reason: 'channel-binding-mismatch',
    });
    expect(run((f) => f.replace(/,r=([^,]*)/, ',r=$1x'))).toEqual({
      ok: false,
      reason: 'nonce-mismatch',
    });
    expect(run((f) => f.replace(/,p=.*$/, ''))).toEqual({ ok: false, reason: 'malformed-message' });
    expect(run((f) => f.replace(/,p=.*$/, ',p=AAAA'))).toEqual({
      ok: false,
      reason: 'malformed-message',
    });
  });

  it('steps-out-of-order-end-the-exchange', async () => {
    const exchange = new ScramServerExchange(await verifierFor('pw'));
    expect(exchange.handleClientFinal('c=biws,r=x,p=AAAA')).toEqual({
      ok: false,
      reason: 'out-of-order',
    });
    expect(exchange.handleClientFirst('n,,n=,r=abc')).toEqual({
      ok: false,
      reason: 'out-of-order',
    });
  });

  it('mock-verifier-has-a-stable-salt-per-name-and-never-passes', () => {
    const key = Buffer.alloc(32, 7);
    const a = createMockScramVerifier('ghost', key);
    expect(createMockScramVerifier('ghost', key).salt).toEqual(a.salt);
    expect(createMockScramVerifier('other', key).salt).not.toEqual(a.salt);
    expect(a.salt).toHaveLength(16);
    const client = new ScramTestClient();
    const exchange = new ScramServerExchange(a, { isMock: true });
    const first = exchange.handleClientFirst(client.clientFirst);
    if (!first.ok) throw new Error('client-first refused');
    expect(exchange.handleClientFinal(client.clientFinal(first.message, 'anything'))).toEqual({
      ok: false,
      reason: 'bad-proof',
    });
  });
});

describe('saslprep-lite', () => {
  it('leaves-ascii-alone-maps-spaces-drops-invisibles-and-applies-nfkc', () => {
    expect(saslPrepLite('plain ASCII\u0007')).toBe('plain ASCII\u0007');
    expect(saslPrepLite('a\u00a0b')).toBe('a b');
    expect(saslPrepLite('a\u00adb\u200d')).toBe('ab');
    expect(saslPrepLite('\ufb01le')).toBe('file');
    expect(saslPrepLite('\u2168')).toBe('IX');
  });

  it('falls-back-to-the-raw-password-when-prohibited-or-empty', () => {
    expect(saslPrepLite('x\u0080y\u00e9')).toBe('x\u0080y\u00e9');
    expect(saslPrepLite('\ue000\u00e9')).toBe('\ue000\u00e9');
    expect(saslPrepLite('\u00ad')).toBe('\u00ad');
  });
});
