import { describe, expect, it } from 'vitest';
import type { GatewayUser } from '../lease/gateway-control.js';
import { checkedWithin, type ProofChecks, type WhileChecking } from './proof-checks.js';

const USER = { ticket: 't' } as unknown as GatewayUser;
const CTX = { clientAddr: '192.0.2.9', via: 'test' };

/** Control-plane checks that note whether the deadline was stopped while each ran. */
function world() {
  const seen: string[] = [];
  let stopped = 0;
  const whileChecking: WhileChecking = async (work) => {
    stopped += 1;
    try {
      return await work();
    } finally {
      stopped -= 1;
    }
  };
  const note = (what: string): void =>
    void seen.push(`${what}:${stopped > 0 ? 'stopped' : 'running'}`);
  const control: ProofChecks = {
    isKeyAcceptable: () => (note('key'), Promise.resolve(true)),
    needsTotp: () => (note('totp'), Promise.resolve(false)),
    authenticate: () => (note('authenticate'), Promise.resolve(USER)),
    startScram: () => {
      note('scram');
      return Promise.resolve({
        start: () => (note('server-first'), Promise.resolve('r=1')),
        finish: () => (note('server-final'), Promise.resolve({ user: USER, serverFinal: 'v=1' })),
      });
    },
  };
  return { seen, note, whileChecking, control };
}

describe('proof checks under the login deadline', () => {
  it('every-check-of-every-protocol-runs-with-the-deadline-stopped-and-the-client-time-between-scram-steps-counts', async () => {
    const w = world();
    const checks = checkedWithin(w.control, w.whileChecking);
    await checks.isKeyAcceptable('alice', { algo: 'ssh-ed25519', blob: Buffer.alloc(1) });
    await checks.needsTotp('alice');
    await checks.authenticate({ kind: 'token', token: 'x', user: 'alice', nonce: 'n', ts: 0 }, CTX);
    const scram = await checks.startScram('alice', CTX);
    await scram.start('n,,n=alice,r=1');
    w.note('client computing its proof');
    expect(await scram.finish('c=biws,r=1,p=x')).toEqual({ user: USER, serverFinal: 'v=1' });
    expect(w.seen).toEqual([
      'key:stopped',
      'totp:stopped',
      'authenticate:stopped',
      'scram:stopped',
      'server-first:stopped',
      'client computing its proof:running',
      'server-final:stopped',
    ]);
  });

  it('without-a-deadline-the-checks-are-the-control-planes-own-and-can-be-spread', async () => {
    const w = world();
    const checks = { ...checkedWithin(w.control, undefined) };
    expect(await checks.needsTotp('alice')).toBe(false);
    expect(w.seen).toEqual(['totp:running']);
  });
});
