import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_PG_URL } from '../../test/support/stores.js';
import {
  deriveScramVerifier,
  parseScramVerifier,
  ScramServerExchange,
  type ScramVerifier,
} from './scram.js';
import { ScramTestClient } from './testing/scram-client.js';

/** The `pg` driver's own SCRAM client: an independent implementation to drive our server with. */
interface PgSasl {
  startSession(mechanisms: string[]): { response: string };
  continueSession(
    session: { response: string },
    password: string,
    serverData: string,
  ): Promise<void>;
  finalizeSession(session: { response: string }, serverData: string): void;
}
const pgSasl = createRequire(import.meta.url)('pg/lib/crypto/sasl.js') as PgSasl;

let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  await client.query(`set password_encryption = 'scram-sha-256'`);
});

afterAll(async () => {
  await client.end();
});

/** Lets PostgreSQL derive the verifier for `password` (CREATE ROLE), reads it, drops the role. */
async function postgresVerifierFor(password: string): Promise<string> {
  const role = `gh_scram_${randomBytes(6).toString('hex')}`;
  try {
    await client.query(`create role ${role} password ${client.escapeLiteral(password)}`);
    const { rows } = await client.query<{ rolpassword: string }>(
      'select rolpassword from pg_authid where rolname = $1',
      [role],
    );
    const stored = rows[0]?.rolpassword;
    if (stored === undefined) throw new Error('role has no password');
    return stored;
  } finally {
    await client.query(`drop role if exists ${role}`);
  }
}

function parsed(text: string): ScramVerifier {
  const v = parseScramVerifier(text);
  if (v === undefined) throw new Error(`not a SCRAM verifier: ${text}`);
  return v;
}

// ASCII, accented, NFKC-changed (ligature, roman numeral), non-ASCII space, soft hyphen,
// and a prohibited character (U+0080) for which PostgreSQL falls back to the raw password.
const PASSWORDS = [
  'pw',
  'correct horse battery staple',
  'p\u00e4ssw\u00f6rd',
  '\ufb01le\u2168',
  'a\u00a0b',
  'soft\u00adhyphen',
  'x\u0080y\u00e9',
];

describe('scram verifier against a real PostgreSQL', () => {
  it.each(PASSWORDS)('scram-verifier-matches-postgresql-format (%j)', async (password) => {
    const fromPg = await postgresVerifierFor(password);
    const ours = await deriveScramVerifier(password);
    expect(ours).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    const pgParts = parsed(fromPg);
    expect(parsed(ours).iterations).toBe(pgParts.iterations);
    expect(parsed(ours).salt).toHaveLength(pgParts.salt.length);
    // Re-derived with PostgreSQL's salt and iterations: byte-identical StoredKey and ServerKey.
    expect(
      await deriveScramVerifier(password, { salt: pgParts.salt, iterations: pgParts.iterations }),
    ).toBe(fromPg);
  });

  it.each(PASSWORDS)('exchange-against-postgresql-verifier-succeeds (%j)', async (password) => {
    const verifier = parsed(await postgresVerifierFor(password));
    const scram = new ScramTestClient();
    const exchange = new ScramServerExchange(verifier);
    const first = exchange.handleClientFirst(scram.clientFirst);
    if (!first.ok) throw new Error(first.reason);
    const final = exchange.handleClientFinal(scram.clientFinal(first.message, password));
    expect(final.ok).toBe(true);
    if (final.ok) expect(scram.isServerFinalValid(final.message)).toBe(true);
  });

  it('pg-driver-scram-client-logs-in-against-postgresql-verifier', async () => {
    const password = 'driver p\u00e4ss';
    const exchange = new ScramServerExchange(parsed(await postgresVerifierFor(password)));
    const session = pgSasl.startSession(['SCRAM-SHA-256']);
    const first = exchange.handleClientFirst(session.response);
    if (!first.ok) throw new Error(first.reason);
    await pgSasl.continueSession(session, password, first.message);
    const final = exchange.handleClientFinal(session.response);
    if (!final.ok) throw new Error(final.reason);
    expect(() => pgSasl.finalizeSession(session, final.message)).not.toThrow();
  });

  // The documented gap of saslPrepLite: PostgreSQL refuses to prepare a password holding a code
  // point unassigned in Unicode 3.2 (an emoji) or breaking the bidi rule, and uses it raw; we
  // still NFKC it. Only passwords that NFKC changes as well are affected. If this starts
  // passing, the gap is closed: update saslprep.ts's doc comment.
  it.each(['\ufb01\u{1F511}', '\u05d0\ufb01\u05d0'])(
    'saslprep-lite-gap-is-as-documented (%j)',
    async (password) => {
      const pgParts = parsed(await postgresVerifierFor(password));
      const ours = await deriveScramVerifier(password, {
        salt: pgParts.salt,
        iterations: pgParts.iterations,
      });
      expect(parsed(ours).storedKey).not.toEqual(pgParts.storedKey);
    },
  );

  it('pg-driver-with-wrong-password-is-refused', async () => {
    const exchange = new ScramServerExchange(parsed(await postgresVerifierFor('right')));
    const session = pgSasl.startSession(['SCRAM-SHA-256']);
    const first = exchange.handleClientFirst(session.response);
    if (!first.ok) throw new Error(first.reason);
    await pgSasl.continueSession(session, 'wrong', first.message);
    expect(exchange.handleClientFinal(session.response)).toEqual({
      ok: false,
      reason: 'bad-proof',
    });
  });
});
