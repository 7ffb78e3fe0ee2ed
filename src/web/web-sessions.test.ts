import { describe, expect, it } from 'vitest';
import { openScratchStore, STORE_DRIVERS } from '../../test/support/stores.js';
import {
  LOGIN_TICKET_MS,
  SESSION_IDLE_MS,
  SESSION_MAX_MS,
  WebSessionStore,
} from './web-sessions.js';

describe.each(STORE_DRIVERS)('console sessions on %s', (driver) => {
  it('a-session-is-found-by-its-secret-only-and-ends-when-idle-or-too-old', async () => {
    await using store = await openScratchStore(driver);
    const clock = { now: 1_800_000_000_000 };
    const sessions = new WebSessionStore({ db: store.db, clock: () => clock.now });
    const { secret, session } = await sessions.create('alice', '10.0.0.1');
    const keys = (await store.db.selectFrom('kv').select(['key', 'value']).execute())
      .map((r) => `${r.key} ${r.value}`)
      .join('\n');
    expect(keys).not.toContain(secret);
    expect((await sessions.find(secret))?.csrfToken).toBe(session.csrfToken);
    expect(
      await sessions.find(`${secret.startsWith('A') ? 'B' : 'A'}${secret.slice(1)}`),
    ).toBeUndefined();
    clock.now += SESSION_IDLE_MS - 1;
    expect(await sessions.find(secret)).toBeDefined();
    clock.now += SESSION_IDLE_MS;
    expect(await sessions.find(secret)).toBeUndefined();
    const other = await sessions.create('alice', null);
    for (let i = 0; i < SESSION_MAX_MS / SESSION_IDLE_MS + 1; i++) {
      clock.now += SESSION_IDLE_MS - 1;
      await sessions.find(other.secret);
    }
    expect(await sessions.find(other.secret)).toBeUndefined();
  });

  it('logout-and-user-wide-revocation-end-sessions', async () => {
    await using store = await openScratchStore(driver);
    const sessions = new WebSessionStore({ db: store.db });
    const a1 = await sessions.create('alice', null);
    const a2 = await sessions.create('alice', null);
    const b = await sessions.create('bob', null);
    await sessions.delete(a1.secret);
    expect(await sessions.find(a1.secret)).toBeUndefined();
    expect(await sessions.deleteForUser('alice')).toBe(1);
    expect(await sessions.find(a2.secret)).toBeUndefined();
    expect(await sessions.find(b.secret)).toBeDefined();
  });

  it('a-login-ticket-is-redeemed-once-and-expires', async () => {
    await using store = await openScratchStore(driver);
    const clock = { now: 1_800_000_000_000 };
    const sessions = new WebSessionStore({ db: store.db, clock: () => clock.now });
    const ticket = await sessions.createLoginTicket('dave');
    expect(await sessions.redeemLoginTicket(ticket)).toBe('dave');
    expect(await sessions.redeemLoginTicket(ticket)).toBeUndefined();
    const late = await sessions.createLoginTicket('dave');
    clock.now += LOGIN_TICKET_MS;
    expect(await sessions.redeemLoginTicket(late)).toBeUndefined();
  });
});
