import { describe, expect, it } from 'vitest';
import {
  deriveScramVerifier,
  parseScramVerifier,
  ScramServerExchange,
} from '../../identity/scram.js';
import { ScramSha256Client } from './scram-client.js';

async function exchange(
  serverPassword: string,
  clientPassword: string,
): Promise<{ isAccepted: boolean; isServerValid: boolean }> {
  const verifier = parseScramVerifier(await deriveScramVerifier(serverPassword));
  if (verifier === undefined) throw new Error('no verifier');
  const server = new ScramServerExchange(verifier);
  const client = new ScramSha256Client(Buffer.from(clientPassword, 'utf8'));
  const first = server.handleClientFirst(client.clientFirst);
  if (!first.ok) throw new Error(first.reason);
  const final = server.handleClientFinal(await client.clientFinal(first.message));
  return {
    isAccepted: final.ok,
    isServerValid: final.ok && client.isServerFinalValid(final.message),
  };
}

describe('scram client for upstream logins', () => {
  it('logs-in-with-the-right-password-and-checks-the-server-signature', async () => {
    expect(await exchange('leased-secret', 'leased-secret')).toEqual({
      isAccepted: true,
      isServerValid: true,
    });
    expect(await exchange('pässwörd', 'pässwörd')).toEqual({
      isAccepted: true,
      isServerValid: true,
    });
  });

  it('a-wrong-password-is-refused-by-the-server', async () => {
    expect((await exchange('leased-secret', 'other')).isAccepted).toBe(false);
  });

  it('a-server-that-does-not-know-the-verifier-is-detected', async () => {
    const client = new ScramSha256Client(Buffer.from('pw'), { nonce: 'abc' });
    await client.clientFinal('r=abcdef,s=c2FsdA==,i=4096');
    expect(client.isServerFinalValid('v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')).toBe(false);
    expect(client.isServerFinalValid('e=invalid-proof')).toBe(false);
  });

  it('hostile-server-first-messages-are-refused', async () => {
    const client = new ScramSha256Client(Buffer.from('pw'), { nonce: 'abc' });
    await expect(client.clientFinal('r=xyz,s=c2FsdA==,i=4096')).rejects.toThrow(/nonce/);
    await expect(client.clientFinal('r=abcdef,s=c2FsdA==,i=999999999')).rejects.toThrow(
      /iteration/,
    );
    await expect(client.clientFinal('r=abcdef,i=4096')).rejects.toThrow(/salt/);
  });
});
