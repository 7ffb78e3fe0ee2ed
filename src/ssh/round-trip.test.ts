import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startLatencyRelay, type LatencyRelay } from '../../test/support/latency-relay.js';
import { createSshKeyPair, type SshKeyPair } from '../../test/support/ssh-keys.js';
import { startSshd, type Sshd } from '../../test/support/sshd.js';
import { RoundTripProbe, sendKeepalive, type SendProbe } from './round-trip.js';
import { connectUpstream } from './upstream.js';

/** A SendProbe whose requests the test answers itself, with a clock the test moves. */
function fakeLink(): {
  send: SendProbe;
  sent: () => number;
  answer: (isAnswered?: boolean) => void;
  clock: { now: number };
} {
  const waiting: ((isAnswered: boolean) => void)[] = [];
  let sent = 0;
  return {
    send: (onAnswer) => {
      sent += 1;
      waiting.push(onAnswer);
      return true;
    },
    sent: () => sent,
    answer: (isAnswered = true) => waiting.shift()?.(isAnswered),
    clock: { now: 0 },
  };
}

describe('round trip probe', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('an-answer-sets-the-estimate-and-a-slower-one-raises-it-at-once', () => {
    const link = fakeLink();
    const probe = new RoundTripProbe(link.send, { clock: () => link.clock.now });
    expect(probe.estimateMs()).toBeUndefined();
    probe.probe();
    link.clock.now = 120;
    link.answer();
    expect(probe.estimateMs()).toBe(120);
    probe.probe();
    link.clock.now = 1_020;
    link.answer();
    expect(probe.estimateMs()).toBe(900);
  });

  it('a-faster-answer-lowers-the-estimate-by-a-quarter-of-the-gap', () => {
    const link = fakeLink();
    const probe = new RoundTripProbe(link.send, { clock: () => link.clock.now });
    probe.probe();
    link.clock.now = 800;
    link.answer();
    probe.probe();
    link.answer(); // answered at once
    expect(probe.estimateMs()).toBe(600);
  });

  it('a-probe-still-waiting-counts-for-as-long-as-it-has-waited', () => {
    const link = fakeLink();
    const probe = new RoundTripProbe(link.send, { clock: () => link.clock.now });
    probe.probe();
    link.clock.now = 50;
    link.answer();
    probe.probe();
    link.clock.now = 70;
    expect(probe.estimateMs()).toBe(50);
    link.clock.now = 2_070; // the link became slow: seen before the answer comes
    expect(probe.estimateMs()).toBe(2_020);
  });

  it('one-probe-at-a-time-and-one-per-interval-while-held', () => {
    vi.useFakeTimers();
    const link = fakeLink();
    const probe = new RoundTripProbe(link.send, { intervalMs: 5_000 });
    probe.probe();
    probe.probe();
    expect(link.sent()).toBe(1); // the first is still in flight
    const release = probe.hold();
    vi.advanceTimersByTime(20_000);
    expect(link.sent()).toBe(1); // still unanswered: nothing more is sent
    link.answer();
    vi.advanceTimersByTime(5_000);
    expect(link.sent()).toBe(2);
    link.answer();
    vi.advanceTimersByTime(4_999);
    expect(link.sent()).toBe(2);
    release();
    vi.advanceTimersByTime(60_000);
    expect(link.sent()).toBe(2); // not held: no more probes
  });

  it('a-closed-connection-stops-probing', () => {
    vi.useFakeTimers();
    const link = fakeLink();
    const probe = new RoundTripProbe(link.send, { intervalMs: 1_000 });
    probe.hold();
    probe.probe();
    link.answer(false); // the connection closed before the answer
    expect(probe.estimateMs()).toBeUndefined();
    vi.advanceTimersByTime(10_000);
    probe.probe();
    expect(link.sent()).toBe(1);
  });

  it('a-link-that-cannot-be-probed-has-no-estimate', () => {
    const probe = new RoundTripProbe(() => false);
    probe.probe();
    expect(probe.estimateMs()).toBeUndefined();
  });
});

describe('keepalive probes to a real sshd', () => {
  const DELAY_MS = 150;
  let sshd: Sshd;
  let key: SshKeyPair;
  let relay: LatencyRelay;

  beforeAll(async () => {
    [sshd, key] = await Promise.all([startSshd(), createSshKeyPair({ type: 'ed25519' })]);
    sshd.authorizeKey(key.publicLine);
    relay = await startLatencyRelay(sshd, { delayMs: DELAY_MS });
  }, 30_000);
  afterAll(async () => {
    await relay[Symbol.asyncDispose]();
    await sshd[Symbol.asyncDispose]();
    key.remove();
  });

  it('openssh-answers-the-keepalive-and-the-round-trip-includes-the-links-delay', async () => {
    const client = await connectUpstream({
      host: relay.host,
      port: relay.port,
      username: sshd.account,
      credential: { kind: 'ssh-key', privateKey: Buffer.from(key.privateKey) },
      pinnedHostKey: sshd.hostKeyLine,
      trustOnFirstUse: false,
      connectTimeoutMs: 20_000,
    });
    try {
      const send = sendKeepalive(client);
      const answers: boolean[] = [];
      let onAnswered: () => void = () => undefined;
      const answered = new Promise<void>((resolve) => (onAnswered = resolve));
      const probe = new RoundTripProbe((onAnswer) =>
        send((isAnswered) => {
          answers.push(isAnswered);
          onAnswer(isAnswered);
          onAnswered();
        }),
      );
      probe.probe();
      await answered;
      expect(answers).toEqual([true]);
      // The request and its answer each crossed the relay once: the measured round trip
      // cannot be shorter than that (a lower bound, not a timing expectation).
      expect(probe.estimateMs()).toBeGreaterThanOrEqual(2 * DELAY_MS - 5);
    } finally {
      client.end();
    }
  });
});
