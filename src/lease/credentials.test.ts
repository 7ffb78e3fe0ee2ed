import { existsSync, readFileSync } from 'node:fs';
import { sql } from 'kysely';
import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import {
  LEASE_STORE_DRIVERS,
  openLeaseWorld,
  withCode,
  type LeaseWorld,
} from '../../test/support/lease-world.js';
import { decryptCredential, findCredentialForUnlock } from './credentials.js';
import { parseEnvelope } from './envelope.js';
import { rotateLocalKey } from './kms-local.js';

const CANARY = 'canary-Zq8xW3-never-stored-in-clear';

async function addTarget(
  world: LeaseWorld,
  name: string,
  kind: 'ssh' | 'postgres' = 'ssh',
): Promise<string> {
  const target = await world.targets.add(
    {
      name,
      kind,
      host: '127.0.0.1',
      port: kind === 'ssh' ? 22 : 5432,
      username: 'deploy',
      ...(kind === 'postgres' ? { database: 'app' } : {}),
    },
    { actor: 'admin' },
  );
  return target.id;
}

/** Every row of every table, as text (what an attacker with a dump would see). */
async function dumpStore(world: LeaseWorld): Promise<string> {
  const tables = [
    'credentials',
    'leases',
    'sessions',
    'kv',
    'audit_events',
    'targets',
    'gateways',
  ] as const;
  const parts: string[] = [];
  for (const table of tables)
    parts.push(JSON.stringify(await world.db.selectFrom(table).selectAll().execute()));
  return parts.join('\n');
}

describe.each(LEASE_STORE_DRIVERS)('credentials on %s', (driver) => {
  it('canary-password-never-appears-in-the-store-the-audit-or-the-envelope', async () => {
    await using world = await openLeaseWorld(driver);
    const targetId = await addTarget(world, 'orders-db', 'postgres');
    const secret = Buffer.from(CANARY);
    const info = await world.credentials.set(
      'orders-db',
      { kind: 'password', password: secret },
      { actor: 'admin' },
    );
    expect(secret.every((b) => b === 0)).toBe(true); // taken over and wiped

    const row = await world.db.selectFrom('credentials').selectAll().executeTakeFirstOrThrow();
    const envelope = parseEnvelope(row.envelope);
    expect(envelope.context).toEqual({
      purpose: 'gatehouse-credential',
      credentialId: info.id,
      targetId,
      version: '1',
    });
    const needles = [
      CANARY,
      Buffer.from(CANARY).toString('base64'),
      Buffer.from(CANARY).toString('hex'),
    ];
    const haystacks = [row.envelope, JSON.stringify(world.audit.events), await dumpStore(world)];
    if (world.store.driver === 'sqlite') {
      const path = await sqliteFile(world);
      for (const file of [path, `${path}-wal`])
        if (existsSync(file)) haystacks.push(readFileSync(file).toString('latin1'));
      expect(haystacks.length).toBeGreaterThan(3);
    }
    for (const hay of haystacks) for (const needle of needles) expect(hay).not.toContain(needle);

    // …and yet it opens, bound to its own row.
    const stored = await findCredentialForUnlock(world.db, targetId);
    expect(stored?.version).toBe(1);
    if (stored === undefined) return;
    expect((await decryptCredential(world.kms, stored)).toString()).toBe(CANARY);
    await expect(decryptCredential(world.kms, { ...stored, version: 2 })).rejects.toThrow(
      withCode('GH_CRYPTO_FAILED'),
    );
  });

  it('generate-ssh-key-returns-only-a-public-line-and-show-has-no-secret', async () => {
    await using world = await openLeaseWorld(driver);
    await addTarget(world, 'web-1');
    const line = await world.credentials.generateSshKey('web-1', { actor: 'admin' });
    expect(line).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]+=* gatehouse-web-1$/);
    expect(line).not.toContain('PRIVATE');
    const parsed = ssh2.utils.parseKey(line);
    if (parsed instanceof Error) throw parsed;
    expect(parsed.isPrivateKey()).toBe(false);

    const shown = await world.credentials.show('web-1');
    expect(shown).toHaveLength(1);
    expect(shown[0]).toMatchObject({
      version: 1,
      kind: 'ssh-key',
      status: 'active',
      kms: 'local',
      createdBy: 'admin',
    });
    expect(Object.keys(shown[0] ?? {}).sort()).toEqual([
      'createdAt',
      'createdBy',
      'fingerprint',
      'id',
      'keyId',
      'kind',
      'kms',
      'status',
      'version',
    ]);
    const fingerprint = shown[0]?.fingerprint ?? '';
    expect(fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const text = JSON.stringify(shown) + JSON.stringify(world.audit.events);
    expect(text).not.toMatch(/PRIVATE|ciphertext|wrappedKey/);
    expect(world.audit.ofType('admin.credential.set')[0]).toMatchObject({
      target: 'web-1',
      data: { by: 'admin', version: 1, kind: 'ssh-key', generated: true, fingerprint },
    });

    // The stored key is the private half of the line returned.
    const stored = await findCredentialForUnlock(world.db, (await world.targets.get('web-1')).id);
    if (stored === undefined) throw new Error('no credential');
    const privateKey = await decryptCredential(world.kms, stored);
    const key = ssh2.utils.parseKey(privateKey);
    privateKey.fill(0);
    if (key instanceof Error) throw key;
    expect(key.isPrivateKey()).toBe(true);
    expect(key.getPublicSSH().equals(parsed.getPublicSSH())).toBe(true);
  });

  it('set-ssh-key-accepts-an-openssh-private-key-and-refuses-unusable-ones', async () => {
    await using world = await openLeaseWorld(driver);
    await addTarget(world, 'web-1');
    await addTarget(world, 'orders-db', 'postgres');
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    const info = await world.credentials.set(
      'web-1',
      { kind: 'ssh-key', privateKey: Buffer.from(pair.private) },
      { actor: 'admin' },
    );
    expect(info.fingerprint).toMatch(/^SHA256:/);

    const encrypted = ssh2.utils.generateKeyPairSync('ed25519', {
      passphrase: 'x',
      cipher: 'aes256-ctr',
      rounds: 16,
    });
    const bad = [
      Buffer.from(encrypted.private),
      Buffer.from(pair.public),
      Buffer.from('not a key'),
      Buffer.alloc(0),
    ];
    for (const privateKey of bad) {
      await expect(
        world.credentials.set('web-1', { kind: 'ssh-key', privateKey }, { actor: 'admin' }),
      ).rejects.toThrow(withCode('GH_INVALID_ARGUMENT'));
    }
    await expect(
      world.credentials.set(
        'orders-db',
        { kind: 'ssh-key', privateKey: Buffer.from(pair.private) },
        { actor: 'admin' },
      ),
    ).rejects.toThrow(withCode('GH_INVALID_ARGUMENT'));
    await expect(world.credentials.generateSshKey('orders-db', { actor: 'admin' })).rejects.toThrow(
      withCode('GH_INVALID_ARGUMENT'),
    );
    await expect(
      world.credentials.set(
        'orders-db',
        { kind: 'password', password: Buffer.from('a\0b') },
        { actor: 'admin' },
      ),
    ).rejects.toThrow(withCode('GH_INVALID_ARGUMENT'));
    await expect(
      world.credentials.set(
        'nope',
        { kind: 'password', password: Buffer.from('x') },
        { actor: 'admin' },
      ),
    ).rejects.toThrow(withCode('GH_NOT_FOUND'));
    expect((await world.credentials.show('web-1')).map((c) => c.version)).toEqual([1]);
  });

  it('set-keeps-one-active-version-the-last-as-previous-and-retires-unleased-older-ones', async () => {
    await using world = await openLeaseWorld(driver);
    await addTarget(world, 'orders-db', 'postgres');
    for (const pw of ['one', 'two', 'three']) {
      await world.credentials.set(
        'orders-db',
        { kind: 'password', password: Buffer.from(pw) },
        { actor: 'admin' },
      );
    }
    expect((await world.credentials.show('orders-db')).map((c) => [c.version, c.status])).toEqual([
      [3, 'active'],
      [2, 'previous'],
      [1, 'retired'],
    ]);
  });

  it('set-that-cannot-be-audited-leaves-the-credentials-as-they-were', async () => {
    await using world = await openLeaseWorld(driver);
    await addTarget(world, 'orders-db', 'postgres');
    await world.credentials.set(
      'orders-db',
      { kind: 'password', password: Buffer.from('one') },
      { actor: 'admin' },
    );
    world.audit.failNext = true;
    await expect(
      world.credentials.set(
        'orders-db',
        { kind: 'password', password: Buffer.from('two') },
        { actor: 'admin' },
      ),
    ).rejects.toThrow(withCode('GH_AUDIT_WRITE_FAILED'));
    expect((await world.credentials.show('orders-db')).map((c) => [c.version, c.status])).toEqual([
      [1, 'active'],
    ]);
  });

  it('rewrap-all-moves-every-envelope-to-the-new-master-key-and-they-still-open', async () => {
    await using world = await openLeaseWorld(driver);
    const targetId = await addTarget(world, 'orders-db', 'postgres');
    await world.credentials.set(
      'orders-db',
      { kind: 'password', password: Buffer.from('one') },
      { actor: 'admin' },
    );
    await world.credentials.set(
      'orders-db',
      { kind: 'password', password: Buffer.from('two') },
      { actor: 'admin' },
    );
    const before = await world.credentials.show('orders-db');
    const newKeyId = rotateLocalKey(world.kmsKeyFile);
    expect(await world.credentials.rewrapAll()).toBe(2);
    const after = await world.credentials.show('orders-db');
    expect(after.map((c) => c.keyId)).toEqual([newKeyId, newKeyId]);
    expect(before.map((c) => c.keyId)).not.toContain(newKeyId);
    const stored = await findCredentialForUnlock(world.db, targetId);
    if (stored === undefined) throw new Error('no credential');
    expect((await decryptCredential(world.kms, stored)).toString()).toBe('two');
  });
});

/** The SQLite main database file (SQLite reports it; the scratch store keeps it private). */
async function sqliteFile(world: LeaseWorld): Promise<string> {
  const { rows } = await sql<{ name: string; file: string }>`pragma database_list`.execute(
    world.db,
  );
  const main = rows.find((r) => r.name === 'main');
  if (main === undefined || main.file === '') throw new Error('no sqlite file');
  return main.file;
}
