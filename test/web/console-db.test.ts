import { mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMysqlWorld, type MysqlWorld } from '../mysql/fixture.js';
import { WebClient } from './client.js';

// The query transcript of a real MySQL session through Gatehouse, in the API and the console.
const PASSWORD = 'correct horse battery staple';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

let world: MysqlWorld;
let browser: Browser;

beforeAll(async () => {
  mkdirSync('test-output', { recursive: true });
  [world, browser] = await Promise.all([
    startMysqlWorld(),
    chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }),
  ]);
  await world.gatehouse.cli(['user', 'passwd', 'admin', '--password-stdin'], {
    stdin: `${PASSWORD}\n`,
  });
  const conn = await world.connect();
  await conn.query('CREATE TABLE orders (id INT PRIMARY KEY, total INT)');
  await conn.query('INSERT INTO orders VALUES (1, 40), (2, 2)');
  await conn.query('SELECT id, total FROM orders ORDER BY id');
  await conn.query('SELECT * FROM no_such_table').catch(() => undefined);
  await conn.end();
}, 90_000);

afterAll(async () => {
  await browser.close();
  await world[Symbol.asyncDispose]();
});

describe('database session transcript', () => {
  it('the-api-gives-each-statement-with-outcome-rows-and-timing', async () => {
    const admin = new WebClient(world.gatehouse);
    await admin.login('admin', PASSWORD);
    const deadline = Date.now() + 10_000;
    let sid = '';
    while (sid === '' && Date.now() < deadline) {
      const list = await admin.call('GET', '/api/sessions?kind=mysql&status=ended');
      sid = (list.json['sessions'] as { sid: string }[])[0]?.sid ?? '';
      if (sid === '') await new Promise((r) => setTimeout(r, 200));
    }
    const res = await admin.call('GET', `/api/sessions/${sid}/transcript`);
    expect(res.status).toBe(200);
    const entries = res.json['entries'] as {
      type: string;
      sql?: string;
      status?: string;
      rows?: number;
      durationMs?: number;
      time: number;
    }[];
    const select = entries.find((e) => e.sql === 'SELECT id, total FROM orders ORDER BY id');
    expect(select, JSON.stringify(entries)).toMatchObject({ type: 'query', status: 'ok', rows: 2 });
    expect(typeof select?.durationMs).toBe('number');
    expect(entries.find((e) => e.sql === 'SELECT * FROM no_such_table')?.status).toBe('error');
    expect(
      (await admin.call('GET', `/api/sessions?q=no_such_table`)).json['sessions'],
    ).toHaveLength(1);

    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 1366, height: 768 },
    });
    const page = await context.newPage();
    await page.goto(`https://127.0.0.1:${world.gatehouse.webPort}/login`);
    await page.fill('input[name=user]', 'admin');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('main.content h1');
    await page.goto(`https://127.0.0.1:${world.gatehouse.webPort}/sessions/${sid}`);
    const transcript = page.locator('#transcript');
    await transcript.waitFor();
    expect(await transcript.textContent()).toContain('INSERT INTO orders VALUES (1, 40), (2, 2)');
    await transcript.scrollIntoViewIfNeeded();
    await page.screenshot({ path: 'test-output/console-db-transcript.png' });
    await context.close();
  });
});
