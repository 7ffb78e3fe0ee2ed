import { mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshWorld, type PtySsh, type SshWorld } from '../ssh/fixture.js';
import { auditEvents, WebClient } from './client.js';

// Headless Chromium drives the real console served by a real `gatehouse serve` in front of a
// real sshd. Screenshots (1366×768, a laptop screen) go to test-output/ for a person to look at.
const PASSWORD = 'correct horse battery staple';
const OUT = 'test-output/console';
const PROMPT = /\$ (\x1b\[[0-9;?]*[A-Za-z])*$/;
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

let world: SshWorld;
let browser: Browser;
const pageErrors: string[] = [];

async function signIn(user: string): Promise<Page> {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1366, height: 768 },
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text()))
      pageErrors.push(m.text());
  });
  await page.goto(`https://127.0.0.1:${world.gatehouse.webPort}/login`);
  await page.fill('input[name=user]', user);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('main.content h1');
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${OUT}-${name}.png` });
}

async function runLine(shell: PtySsh, line: string): Promise<void> {
  const from = shell.output().length;
  shell.write(`${line}\r`);
  await shell.waitFor(PROMPT, { from });
}

async function activeSid(): Promise<string> {
  const admin = new WebClient(world.gatehouse);
  await admin.login('admin', PASSWORD);
  const res = await admin.call('GET', '/api/sessions?status=active');
  return String((res.json['sessions'] as { sid: string }[])[0]?.sid);
}

beforeAll(async () => {
  mkdirSync('test-output', { recursive: true });
  [world, browser] = await Promise.all([
    startSshWorld(),
    chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }),
  ]);
  for (const name of ['admin', 'alice'])
    await world.gatehouse.cli(['user', 'passwd', name, '--password-stdin'], {
      stdin: `${PASSWORD}\n`,
    });
}, 90_000);

afterAll(async () => {
  await browser.close();
  await world[Symbol.asyncDispose]();
});

describe('web console in headless Chromium', () => {
  it('a-user-signs-in-and-sees-my-access-with-connect-commands-and-expiry', async () => {
    const page = await signIn('alice');
    const card = page.locator('.target-card[data-target="web-1"]');
    await card.waitFor();
    expect(await card.textContent()).toContain(
      `ssh -p ${world.gatehouse.sshPort} alice@127.0.0.1 web-1`,
    );
    expect(await card.textContent()).toContain(
      `scp -P ${world.gatehouse.sshPort} ./file.txt alice+web-1@127.0.0.1:/tmp/`,
    );
    expect(await card.locator('.expiry').textContent()).toMatch(/expires in (59m|1h)/);
    expect(await page.locator('.nav').textContent()).not.toContain('Admin');
    await shot(page, 'my-access');
    await page.context().close();
  });

  it('an-admin-replays-a-recorded-ssh-session-and-jumps-to-a-command', async () => {
    const shell = world.sshPty(['web-1'], { cols: 100, rows: 28 });
    await shell.waitFor(PROMPT, { timeoutMs: 15_000 });
    await runLine(shell, 'echo replay-$((6*7))-done');
    await runLine(shell, 'ls -la /etc | head -5');
    shell.write('exit\r');
    await shell.waitExit(10_000);

    const page = await signIn('admin');
    await page.goto(`https://127.0.0.1:${world.gatehouse.webPort}/sessions`);
    const row = page.locator('tr.row-link').first();
    await row.waitFor();
    await shot(page, 'sessions');
    await row.click();
    const marker = page.locator('button.marker', { hasText: 'echo replay-' });
    await marker.waitFor({ timeout: 10_000 });
    await marker.click();
    await page
      .locator('.ap-line', { hasText: 'replay-42-done' })
      .first()
      .waitFor({ timeout: 10_000 });
    await page.waitForTimeout(1_500);
    await shot(page, 'replay');
    expect(await page.locator('.command-markers').textContent()).toContain('ls -la /etc | head -5');
    await page.context().close();
  });

  it('an-admin-follows-a-live-session-and-terminates-it', async () => {
    const shell = world.sshPty(['web-1'], { cols: 100, rows: 28 });
    await shell.waitFor(PROMPT, { timeoutMs: 15_000 });
    await runLine(shell, 'echo before-$((2+3))-viewer');
    const sid = await activeSid();
    const page = await signIn('admin');
    await page.goto(`https://127.0.0.1:${world.gatehouse.webPort}/sessions/${sid}`);
    await page
      .locator('.ap-line', { hasText: 'before-5-viewer' })
      .first()
      .waitFor({ timeout: 10_000 });
    await runLine(shell, 'echo while-$((3+4))-watched');
    await page
      .locator('.ap-line', { hasText: 'while-7-watched' })
      .first()
      .waitFor({ timeout: 10_000 });
    await shot(page, 'live');
    await page.click('#terminate');
    await page.click('dialog[open] [data-confirm]');
    expect(await shell.waitExit(10_000)).not.toBe(0);
    await page.locator('#ended-notice').waitFor({ timeout: 10_000 });
    expect(await page.locator('#ended-notice').textContent()).toContain('terminated');
    await shot(page, 'live-terminated');
    const events = await auditEvents(world.gatehouse, 200);
    expect(events.find((e) => e.type === 'admin.session.kill' && e.sid === sid)?.data['by']).toBe(
      'web:admin',
    );
    await page.context().close();
  });

  it('an-admin-revokes-a-grant-and-the-user-loses-access', async () => {
    const page = await signIn('admin');
    await page.goto(`https://127.0.0.1:${world.gatehouse.webPort}/admin/grants`);
    const revoke = page.locator('tr', { hasText: 'alice' }).locator('button[data-revoke]');
    await revoke.waitFor();
    await shot(page, 'grants');
    await revoke.click();
    await page.click('dialog[open] [data-confirm]');
    await page.locator('.flash', { hasText: 'Revoked alice → web-1' }).waitFor();
    expect(await page.locator('button[data-revoke]').count()).toBe(0);
    const denied = await world.ssh('web-1 true');
    expect(denied.code).not.toBe(0);
    // The audit log shows the revocation and the chain still verifies.
    await page.goto(`https://127.0.0.1:${world.gatehouse.webPort}/audit`);
    await page.locator('.verify-ok').waitFor({ timeout: 10_000 });
    expect(await page.locator('.audit-table').textContent()).toContain('grant.revoke');
    await shot(page, 'audit');
    await page.goto(`https://127.0.0.1:${world.gatehouse.webPort}/admin/targets`);
    await page.locator('td', { hasText: 'web-1' }).first().waitFor();
    await shot(page, 'admin-targets');
    await page.context().close();
  });

  it('an-admin-opens-and-closes-the-detail-cards-of-a-user-and-a-target-and-disables-then-enables-a-user', async () => {
    const page = await signIn('admin');
    await page.goto(`https://127.0.0.1:${world.gatehouse.webPort}/admin/users`);
    const aliceRow = page.locator('tr', { hasText: 'alice' });
    await aliceRow.locator('button', { hasText: 'Manage' }).click();
    const userCard = page.locator('#user-alice');
    await userCard.locator('h3', { hasText: 'Manage alice' }).waitFor();
    expect(await userCard.locator('h4').allTextContents()).toEqual([
      'SSH keys',
      'Password',
      'Two-step verification (TOTP)',
      'Roles',
      'Personal access tokens',
    ]);
    await userCard.locator('button', { hasText: 'Close' }).click();
    await userCard.waitFor({ state: 'detached' });
    // Disabling asks first; each change reloads the section and says what it did.
    await aliceRow.locator('button', { hasText: 'Disable' }).click();
    await page.click('dialog[open] [data-confirm]');
    await page.locator('.flash', { hasText: 'Disabled alice.' }).waitFor();
    await aliceRow.locator('button', { hasText: 'Enable' }).click();
    await page.locator('.flash', { hasText: 'Enabled alice.' }).waitFor();
    await page.goto(`https://127.0.0.1:${world.gatehouse.webPort}/admin/targets`);
    await page
      .locator('tr', { hasText: 'web-1' })
      .locator('button', { hasText: 'Credentials' })
      .click();
    const credentialsCard = page.locator('#credentials-web-1');
    await credentialsCard.locator('h3', { hasText: 'Credentials of web-1' }).waitFor();
    expect(await credentialsCard.locator('tbody tr').count()).toBeGreaterThanOrEqual(1);
    await credentialsCard.locator('button', { hasText: 'Close' }).click();
    await credentialsCard.waitFor({ state: 'detached' });
    await page.context().close();
  });

  it('no-page-broke-the-content-security-policy-or-threw', () => {
    expect(pageErrors).toEqual([]);
  });
});
