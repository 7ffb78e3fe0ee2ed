import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import mysqlCallback from 'mysql2';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Command,
  FieldType,
  PayloadWriter,
  encodeQuery,
  encodeSimpleCommand,
  encodeStmtPrepare,
  encodeStmtSendLongData,
} from '../../src/db/mysql/protocol/index.js';
import { textRow } from '../../src/db/mysql/protocol/testing/byte-builder.js';
import { parse, stringify } from 'yaml';
import { freePort } from '../support/sshd.js';
import { ALICE_PASSWORD, startMysqlWorld, type MysqlWorld } from './fixture.js';
import { RawClient } from './raw-client.js';

const MiB = 1024 * 1024;
let world: MysqlWorld;
let originalMaxPacket: number;

beforeAll(async () => {
  world = await startMysqlWorld();
  // MariaDB's default max_allowed_packet is 16 MiB; the large-packet tests need more.
  const [row] = await world.root<{ v: number }[]>('SELECT @@global.max_allowed_packet AS v');
  originalMaxPacket = row?.v ?? 16 * MiB;
  if (originalMaxPacket < 64 * MiB)
    await world.root('SET GLOBAL max_allowed_packet = ?', [64 * MiB]);
  await world.root(`CREATE TABLE \`${world.database}\`.blobs (id INT PRIMARY KEY, data LONGBLOB)`);
}, 120_000);

afterAll(async () => {
  if (originalMaxPacket !== undefined && originalMaxPacket < 64 * MiB)
    await world
      .root('SET GLOBAL max_allowed_packet = ?', [originalMaxPacket])
      .catch(() => undefined);
  await world?.[Symbol.asyncDispose]();
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function rss(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

describe('mysql2 through Gatehouse', () => {
  it('query-and-ping-run-as-the-leased-account', async () => {
    const conn = await world.connect();
    try {
      const [rows] = await conn.query<mysql.RowDataPacket[]>(
        'SELECT CURRENT_USER() AS u, DATABASE() AS d',
      );
      expect(rows[0]).toEqual({ u: `${world.account.user}@%`, d: world.database });
      await conn.ping();
    } finally {
      await conn.end();
    }
  });

  it('multi-statements-return-every-result-set-whole', async () => {
    const conn = await world.connect({ multipleStatements: true });
    try {
      const [results] = await conn.query<mysql.RowDataPacket[][]>(
        "select '' as a, 'marker1' as b; show schemas; select 'marker2' as c;",
      );
      expect(results).toHaveLength(3);
      expect(results[0]).toEqual([{ a: '', b: 'marker1' }]);
      expect(results[1]?.map((r) => String(Object.values(r)[0]))).toContain(world.database);
      expect(results[2]).toEqual([{ c: 'marker2' }]);
      const [mixed] = await conn.query<mysql.ResultSetHeader[]>(
        'CREATE TEMPORARY TABLE tmp1 (a INT); INSERT INTO tmp1 VALUES (1),(2),(3); UPDATE tmp1 SET a = a + 1',
      );
      expect(mixed.map((r) => r.affectedRows)).toEqual([0, 3, 3]);
      // A procedure's result sets, then its status (CLIENT_MULTI_RESULTS).
      await conn.query(
        'CREATE PROCEDURE two_results() BEGIN SELECT 1 AS one; SELECT 2 AS two; END',
      );
      const [called] = await conn.query<mysql.RowDataPacket[][]>('CALL two_results()');
      expect(called.slice(0, 2)).toEqual([[{ one: 1 }], [{ two: 2 }]]);
    } finally {
      await conn.end();
    }
  });

  it('prepared-statements-carry-the-common-types', async () => {
    const conn = await world.connect({
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    try {
      await conn.query(
        'CREATE TABLE typed (i INT, b BIGINT, u INT UNSIGNED, d DECIMAL(10,2), f DOUBLE, s VARCHAR(100) CHARACTER SET utf8mb4, dt DATE, ts DATETIME(3), n VARCHAR(10) NULL, bl BLOB)',
      );
      const blob = Buffer.from([0, 1, 2, 250, 255]);
      const values = [
        -42,
        '9007199254740993',
        4_000_000_000,
        '1234.50',
        2.5,
        'grüße, 東京 🎉',
        '2024-02-29',
        '2024-02-29 13:05:09.120',
        null,
        blob,
      ];
      const [inserted] = await conn.execute<mysql.ResultSetHeader>(
        'INSERT INTO typed VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        values,
      );
      expect(inserted.affectedRows).toBe(1);
      const [rows] = await conn.execute<mysql.RowDataPacket[]>(
        'SELECT * FROM typed WHERE i = ? AND s = ?',
        [-42, 'grüße, 東京 🎉'],
      );
      expect(rows).toHaveLength(1);
      const row: mysql.RowDataPacket = rows[0] ?? ({} as mysql.RowDataPacket);
      expect(row['i']).toBe(-42);
      expect(String(row['b'])).toBe('9007199254740993');
      expect(row['u']).toBe(4_000_000_000);
      expect(row['d']).toBe('1234.50');
      expect(row['f']).toBe(2.5);
      expect(row['s']).toBe('grüße, 東京 🎉');
      expect(row['dt']).toBe('2024-02-29');
      expect(row['ts']).toBe('2024-02-29 13:05:09.120');
      expect(row['n']).toBeNull();
      expect(Buffer.compare(row['bl'] as Buffer, blob)).toBe(0);
    } finally {
      await conn.end();
    }
    const events = await world.auditEvents();
    const insert = events.find(
      (e) =>
        e.type === 'db.query' &&
        e.data['mode'] === 'extended' &&
        String(e.data['sql']).startsWith('INSERT INTO typed'),
    );
    expect(insert?.user).toBe('alice');
    expect(insert?.data['rows']).toBe(1);
    expect(insert?.data['commands']).toEqual(['affected 1']);
    expect(insert?.data['params']).toEqual([
      '-42',
      '9007199254740993',
      '4000000000',
      '1234.50',
      '2.5',
      'grüße, 東京 🎉',
      '2024-02-29',
      '2024-02-29 13:05:09.120',
      null,
      '<binary 5 bytes>',
    ]);
    const select = events.find(
      (e) =>
        e.type === 'db.query' &&
        e.data['mode'] === 'extended' &&
        String(e.data['sql']).startsWith('SELECT * FROM typed'),
    );
    expect(select?.data['rows']).toBe(1);
  });

  it('a-20MiB-blob-round-trips-in-split-packets-both-ways', async () => {
    const blob = randomBytes(20 * MiB);
    const conn = await world.connect();
    try {
      await conn.execute('INSERT INTO blobs VALUES (?, ?)', [1, blob]);
      const [viaText] = await conn.query<mysql.RowDataPacket[]>(
        'SELECT data FROM blobs WHERE id = 1',
      );
      expect(sha(viaText[0]?.['data'] as Buffer)).toBe(sha(blob));
      const [viaBinary] = await conn.execute<mysql.RowDataPacket[]>(
        'SELECT data, LENGTH(data) AS n FROM blobs WHERE id = ?',
        [1],
      );
      expect(viaBinary[0]?.['n']).toBe(20 * MiB);
      expect(sha(viaBinary[0]?.['data'] as Buffer)).toBe(sha(blob));
      // The connection is still in step after the large packets.
      const [after] = await conn.query<mysql.RowDataPacket[]>('SELECT 7 AS x');
      expect(after[0]?.['x']).toBe(7);
    } finally {
      await conn.end();
    }
  }, 60_000);

  it('a-large-result-streams-through-without-holding-it-in-memory', async () => {
    const pid = world.gatehouse.pid;
    const before = rss(pid);
    const conn = mysqlCallback.createConnection(world.connectOptions());
    let rows = 0;
    let peak = before;
    await new Promise<void>((resolve, reject) => {
      // ~120 MiB of rows; the client reads slowly at first, so the gateway must hold back.
      const stream = conn
        .query("SELECT seq, REPEAT('x', 1024) AS pad FROM seq_1_to_120000")
        .stream({ highWaterMark: 16 });
      stream.pause();
      setTimeout(() => {
        peak = Math.max(peak, rss(pid));
        stream.resume();
      }, 1500);
      stream.on('data', () => {
        rows += 1;
        if (rows % 20_000 === 0) peak = Math.max(peak, rss(pid));
      });
      stream.on('end', () => resolve());
      stream.on('error', reject);
    });
    conn.end();
    expect(rows).toBe(120_000);
    expect(peak - before).toBeLessThan(64 * MiB);
  }, 60_000);

  it('change-user-is-refused-and-the-connection-stays-usable', async () => {
    const conn = await world.connect();
    try {
      const err = await conn.changeUser({ user: 'root' }).then(
        () => undefined,
        (e: unknown) => e as { errno?: number; message: string },
      );
      expect(err?.errno).toBe(1235);
      expect(err?.message).toMatch(/COM_CHANGE_USER is not supported through Gatehouse/);
    } finally {
      conn.destroy();
    }
    const events = await world.auditEvents();
    expect(
      events.some(
        (e) => e.type === 'db.denied' && e.data['reason'] === 'change-user' && e.user === 'alice',
      ),
    ).toBe(true);
  });

  it('load-data-local-is-refused-before-it-reaches-the-target', async () => {
    const conn = await world.connect({ infileStreamFactory: () => Readable.from(['1\n']) });
    try {
      await conn.query('CREATE TABLE IF NOT EXISTS infile2 (a TEXT)');
      const err = await conn.query("LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE infile2").then(
        () => undefined,
        (e: unknown) => e as { errno?: number },
      );
      expect(err?.errno).toBe(1148);
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM infile2');
      expect(rows[0]?.['n']).toBe(0);
    } finally {
      await conn.end();
    }
  });

  it('kill-query-with-the-gateway-connection-id-reaches-the-right-session', async () => {
    const busy = await world.connect();
    const other = await world.connect();
    try {
      const started = Date.now();
      const sleeping = busy.query('SELECT SLEEP(20) AS s').then(
        () => ({ errno: 0 }),
        (e: unknown) => e as { errno?: number },
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      // What `mysql` sends on Ctrl-C: KILL QUERY with the id from the greeting.
      await other.query(`KILL QUERY ${busy.threadId}`);
      // MariaDB: ER_QUERY_INTERRUPTED; MySQL: SLEEP returns 1.
      expect([0, 1317]).toContain((await sleeping).errno);
      expect(Date.now() - started).toBeLessThan(10_000);
      const [rows] = await busy.query<mysql.RowDataPacket[]>('SELECT 1 AS still');
      expect(rows[0]?.['still']).toBe(1);
    } finally {
      await busy.end();
      await other.end();
    }
  });
});

describe('commands mysql2 does not send (raw client)', () => {
  it('send-long-data-builds-a-blob-and-the-audit-names-it', async () => {
    const client = await RawClient.connect({
      port: world.gatehouse.mysqlPort,
      login: 'alice#shop-db',
      password: ALICE_PASSWORD,
      caPem: world.caPem,
      database: world.database,
    });
    try {
      const prepared = await client.command(
        encodeStmtPrepare('INSERT INTO blobs (id, data) VALUES (?, ?)'),
      );
      const ok = prepared.tracker.summary.prepareOk;
      expect(ok?.numParams).toBe(2);
      const stmtId = ok?.stmtId ?? 0;
      const piece = Buffer.alloc(MiB, 0x5a);
      for (let i = 0; i < 3; i += 1) client.send(encodeStmtSendLongData(stmtId, 1, piece));
      const execute = new PayloadWriter()
        .u8(Command.STMT_EXECUTE)
        .u32(stmtId)
        .u8(0)
        .u32(1)
        .u8(0)
        .u8(1)
        .u8(FieldType.LONG)
        .u8(0)
        .u8(FieldType.BLOB)
        .u8(0)
        .u32(2)
        .toBuffer();
      const result = await client.command(execute);
      expect(result.tracker.summary.error).toBeUndefined();
      expect(result.tracker.summary.affectedRows).toBe(1);
      const fieldList = await client.command(
        Buffer.concat([encodeSimpleCommand(Command.FIELD_LIST), Buffer.from('blobs\0')]),
      );
      expect(fieldList.tracker.summary.error).toBeUndefined();
      expect(fieldList.packets.length).toBe(3);
    } finally {
      client.close();
    }
    const [row] = await world.root<{ n: number }[]>(
      `SELECT LENGTH(data) AS n FROM \`${world.database}\`.blobs WHERE id = 2`,
    );
    expect(row?.n).toBe(3 * MiB);
    const events = await world.auditEvents();
    const audited = events.find(
      (e) =>
        e.type === 'db.query' &&
        e.data['mode'] === 'extended' &&
        e.data['sql'] === 'INSERT INTO blobs (id, data) VALUES (?, ?)' &&
        Array.isArray(e.data['params']) &&
        e.data['params'][0] === '2',
    );
    expect(audited?.data['params']).toEqual(['2', `<long data ${3 * MiB} bytes>`]);
  });

  it('a-cursor-execute-then-fetch-comes-back-in-pieces', async () => {
    const client = await RawClient.connect({
      port: world.gatehouse.mysqlPort,
      login: 'alice#shop-db',
      password: ALICE_PASSWORD,
      caPem: world.caPem,
    });
    try {
      const prepared = await client.command(encodeStmtPrepare('SELECT seq FROM seq_1_to_5'));
      const stmtId = prepared.tracker.summary.prepareOk?.stmtId ?? 0;
      // flags 1 = CURSOR_TYPE_READ_ONLY: the response is the column definitions only.
      const opened = await client.command(
        new PayloadWriter().u8(Command.STMT_EXECUTE).u32(stmtId).u8(1).u32(1).toBuffer(),
      );
      expect(opened.tracker.summary.rows).toBe(0);
      const fetch = (n: number): Buffer =>
        new PayloadWriter().u8(Command.STMT_FETCH).u32(stmtId).u32(n).toBuffer();
      expect((await client.command(fetch(3))).tracker.summary.rows).toBe(3);
      expect((await client.command(fetch(3))).tracker.summary.rows).toBe(2);
      const ping = await client.command(encodeSimpleCommand(Command.PING));
      expect(ping.packets).toHaveLength(1);
    } finally {
      client.close();
    }
  });

  it('reset-connection-keeps-a-read-only-target-read-only', async () => {
    const client = await RawClient.connect({
      port: world.gatehouse.mysqlPort,
      login: 'alice#shop-ro',
      password: ALICE_PASSWORD,
      caPem: world.caPem,
    });
    try {
      const reset = await client.command(encodeSimpleCommand(Command.RESET_CONNECTION));
      expect(reset.tracker.summary.error).toBeUndefined();
      const mode = await client.command(encodeQuery('SELECT @@session.tx_read_only'));
      expect(mode.packets[2]?.payload).toEqual(textRow(['1']));
      const ping = await client.command(encodeSimpleCommand(Command.PING));
      expect(ping.packets).toHaveLength(1);
    } finally {
      client.close();
    }
  });
});

describe('a listener dedicated to one target', () => {
  it('takes-the-plain-user-name-and-refuses-another-target', async () => {
    const port = await freePort();
    const config = parse(readFileSync(world.gatehouse.configPath, 'utf8')) as {
      mysql?: Record<string, unknown>;
    };
    config.mysql = { ...config.mysql, targetPorts: { 'shop-db': port } };
    writeFileSync(world.gatehouse.configPath, stringify(config));
    await world.gatehouse.stop();
    await world.gatehouse.restart();
    const conn = await mysql.createConnection({
      ...world.connectOptions({ login: 'alice' }),
      port,
    });
    try {
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT CURRENT_USER() AS u');
      expect(rows[0]?.['u']).toBe(`${world.account.user}@%`);
    } finally {
      await conn.end();
    }
    const other = await mysql
      .createConnection({ ...world.connectOptions({ login: 'alice#shop-ro' }), port })
      .then(
        () => undefined,
        (e: unknown) => e as { errno?: number; message: string },
      );
    expect(other?.errno).toBe(1045);
    expect(other?.message).toMatch(/this port serves target "shop-db" only/);
  }, 60_000);
});
