import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnPty, type PtySsh } from '../ssh/fixture.js';
import { WebClient } from '../web/client.js';
import {
  canaryForms,
  canaryText,
  describeHits,
  fileHaystacks,
  findCanaries,
  makeCanary,
  nearMiss,
  textHaystack,
  type Canary,
  type Haystack,
} from './canary-search.js';
import { mariadb, psql, startCanaryWorld, SUDO_ACCOUNT, type CanaryWorld } from './canary-world.js';

// Issue #8, "Secrets": canary target credentials, user passwords and tokens, typed passwords
// and SQL password literals go through real sessions of a real `gatehouse serve` (SSH with a
// pty, exec, scp and sftp; psql and the pg driver; the mariadb client and mysql2; the web
// console), which is also made to crash (an uncaught exception with a Node report, and
// SIGKILL) mid-session. Then every log line, CLI and client output, audit event, recording,
// transcript, file of the data dir (the SQLite store with its -wal and -shm, keys, sink),
// diagnostic report and the server's /proc cmdline and environ are searched for every canary
// in plain, hex and base64 forms. The promise (docs/security.md, "Secrets in records"):
// zero hits. A positive control shows the same search finds a canary that is there.

// Generous: the machine may be loaded, and each CLI command is a process opening the store.
const STEP_TIMEOUT_MS = 600_000;

describe('canary secrets never reach logs, audit, recordings, store or crash output', () => {
  let world: CanaryWorld;
  let aliceToken: Canary;
  let tokenNearMiss: Canary;
  const ptys = new Set<PtySsh>();
  const dbClients: { end(): Promise<unknown> }[] = [];
  /** Data-dir snapshots taken while the server ran (the store's -wal and -shm exist then). */
  const runningSnapshots: Haystack[] = [];
  const sshSids: string[] = [];

  beforeAll(async () => {
    world = await startCanaryWorld();
    const created = await world.cli(['token', 'create', 'alice', '--for', '2h'], {
      isSecretOutput: true,
    });
    aliceToken = { name: 'alice-token', value: Buffer.from(created.stdout.trim()) };
    tokenNearMiss = nearMiss(aliceToken, 'alice-token-near-miss');
    world.generated.push(aliceToken, tokenNearMiss);
  }, STEP_TIMEOUT_MS);

  afterAll(async () => {
    for (const p of ptys) p.kill();
    for (const c of dbClients) await c.end().catch(() => undefined);
    await world[Symbol.asyncDispose]();
  }, 120_000);

  const pty = (login: string): PtySsh => {
    const client = spawnPty('ssh', ['-tt', ...world.sshKeyArgs(), `${login}@127.0.0.1`], {
      cols: 120,
      rows: 30,
    });
    ptys.add(client);
    return client;
  };

  /** A shell on box-key where the user types the sudo password and a `read -s` secret; left open. */
  const sudoSession = async (): Promise<PtySsh> => {
    const term = pty('alice+box-key');
    await term.waitFor('$ ', { timeoutMs: 30_000 });
    // Markers are computed by the shell, so the output (not the echo) shows them.
    term.write('echo "MARK-PTY-$((40 + 2))"\r');
    await term.waitFor('MARK-PTY-42', { timeoutMs: 60_000 });
    // sudo asks for the password of SUDO_ACCOUNT (targetpw), with echo off.
    let from = term.output().length;
    term.write(
      `sudo -p "$(printf 'SUDO-%s:' prompt)" -u ${SUDO_ACCOUNT} sh -c 'echo "who=$(id -un)"'\r`,
    );
    await term.waitFor('SUDO-prompt:', { from, timeoutMs: 60_000 });
    from = term.output().length;
    term.write(`${canaryText(world.secrets.sudoPassword)}\r`);
    await term.waitFor(`who=${SUDO_ACCOUNT}`, { from, timeoutMs: 60_000 });
    // Back at the prompt before typing on: sudo restores the terminal with TCSAFLUSH, which
    // throws away keys typed ahead while it still runs (the next line was lost that way).
    await term.waitFor('$ ', {
      from: term.output().indexOf(`who=${SUDO_ACCOUNT}`, from),
      timeoutMs: 60_000,
    });
    from = term.output().length;
    term.write(`read -s -p "$(printf 'READ-%s:' secret)" v; echo; echo "len=\${#v}"\r`);
    await term.waitFor('READ-secret:', { from, timeoutMs: 60_000 });
    from = term.output().length;
    term.write(`${canaryText(world.secrets.readSecret)}\r`);
    await term.waitFor(`len=${world.secrets.readSecret.value.length}`, { from, timeoutMs: 60_000 });
    return term;
  };

  it(
    'ssh: a pty with sudo and read -s, exec, scp, sftp, password and token logins, a refused leased password',
    async () => {
      const term = await sudoSession();
      world.note('client:ssh -tt box-key (terminal)', term.output());
      term.write('exit\r');
      expect(await term.waitExit(30_000)).toBe(0);
      // What the user saw: the typed passwords were not echoed by the target either.
      expect(term.output()).not.toContain(canaryText(world.secrets.sudoPassword));

      const exec = await world.client('ssh', [
        ...world.sshKeyArgs(),
        'alice+box-pw@127.0.0.1',
        '--',
        'echo "MARK-EXEC-$((6 * 7))"; id -un',
      ]);
      expect(exec.stdout).toBe('MARK-EXEC-42\ngh_canary\n');

      const home = '/home/gh_canary';
      const name = `xfer-${randomBytes(4).toString('hex')}`;
      const localFile = join(world.scratch, `${name}.txt`);
      writeFileSync(localFile, 'transfer payload\n');
      const scpArgs = world.sshKeyArgs({ portFlag: '-P' });
      const up = await world.client('scp', [
        ...scpArgs,
        localFile,
        `alice+box-key@127.0.0.1:${home}/${name}.txt`,
      ]);
      expect(up.code, up.stderr).toBe(0);
      const upLegacy = await world.client('scp', [
        ...scpArgs,
        '-O',
        localFile,
        `alice+box-pw@127.0.0.1:${home}/${name}-legacy.txt`,
      ]);
      expect(upLegacy.code, upLegacy.stderr).toBe(0);
      const batch = join(world.scratch, 'sftp-batch.txt');
      writeFileSync(
        batch,
        `ls ${home}\nget ${home}/${name}.txt ${localFile}.back\nrm ${home}/${name}.txt\nrm ${home}/${name}-legacy.txt\n`,
      );
      const sftp = await world.client('sftp', [...scpArgs, '-b', batch, 'alice+box-key@127.0.0.1']);
      expect(sftp.code, sftp.stderr).toBe(0);
      expect(readFileSync(`${localFile}.back`, 'utf8')).toBe('transfer payload\n');

      // Gatehouse password and personal token as SSH passwords; near misses are refused.
      for (const [secret, isGood] of [
        [world.secrets.alicePassword, true],
        [world.secrets.aliceNearMiss, false],
        [aliceToken, true],
        [tokenNearMiss, false],
      ] as const) {
        const { args, env } = world.sshPasswordArgs(secret);
        const r = await world.client('ssh', [...args, 'alice+box-pw@127.0.0.1', '--', 'id -un'], {
          env,
        });
        if (isGood) expect(r.stdout, `${secret.name}: ${r.stderr}`).toBe('gh_canary\n');
        else expect(r.code, `${secret.name}: ${r.stdout}`).toBe(255);
      }

      // The same through keyboard-interactive (Gatehouse's own "Password: " prompt).
      const kbd = world.sshPasswordArgs(world.secrets.alicePassword, 'keyboard-interactive');
      const kbdRun = await world.client(
        'ssh',
        [...kbd.args, 'alice+box-pw@127.0.0.1', '--', 'id -un'],
        { env: kbd.env },
      );
      expect(kbdRun.stdout, kbdRun.stderr).toBe('gh_canary\n');

      // The target refuses the leased password of box-wrong: the user gets an error, no shell.
      const wrong = await world.client('ssh', [
        ...world.sshKeyArgs(),
        'alice+box-wrong@127.0.0.1',
        '--',
        'id -un',
      ]);
      expect(wrong.stdout).toBe('');
      expect(wrong.code).not.toBe(0);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'web console: admin sets a password and credentials, users sign in (and fail to) with canary passwords',
    async () => {
      const web =
        (client: WebClient, label: string) =>
        async (method: string, path: string, body?: unknown) => {
          const res = await client.call(method, path, body === undefined ? {} : { body });
          world.note(`http:${label} ${method} ${path}`, res.text);
          return res;
        };
      const admin = new WebClient(world.gatehouse);
      const adminPassword = world.generated.find((c) => c.name === 'admin-password');
      if (adminPassword === undefined) throw new Error('no admin password');
      await admin.login('admin', canaryText(adminPassword));
      const asAdmin = web(admin, 'admin');
      expect(
        (
          await asAdmin('POST', '/api/admin/users', {
            name: 'bob',
            password: canaryText(world.secrets.bobPassword),
          })
        ).status,
      ).toBe(200);
      expect(
        (
          await asAdmin('POST', '/api/admin/targets/orders-wrong/credentials', {
            kind: 'password',
            password: canaryText(world.secrets.pgWrongPassword),
          })
        ).status,
      ).toBe(200);
      // A private key that does not parse: refused, and the answer does not quote it.
      const badKey = `-----BEGIN OPENSSH PRIVATE KEY-----\n${canaryText(world.secrets.badKeyBody)}\n-----END OPENSSH PRIVATE KEY-----\n`;
      const refused = await asAdmin('POST', '/api/admin/targets/box-wrong/credentials', {
        kind: 'ssh-key',
        privateKey: badKey,
      });
      expect(refused.status).toBeGreaterThanOrEqual(400);
      const badKeyFile = join(world.scratch, 'bad-key');
      writeFileSync(badKeyFile, badKey, { mode: 0o600 });
      const cliRefused = await world.cli(
        ['credential', 'set', 'box-wrong', '--private-key', badKeyFile],
        { mayFail: true },
      );
      expect(cliRefused.code).not.toBe(0);

      for (const [user, secret] of [
        ['alice', world.secrets.alicePassword],
        ['bob', world.secrets.bobPassword],
      ] as const) {
        const client = new WebClient(world.gatehouse);
        await client.login(user, canaryText(secret));
        if (client.cookie !== undefined)
          world.generated.push({
            name: `${user}-console-cookie`,
            value: Buffer.from(client.cookie),
          });
        expect((await web(client, user)('GET', '/api/sessions')).status).toBe(200);
      }
      const failed = await web(new WebClient(world.gatehouse), 'anonymous')(
        'POST',
        '/api/auth/login',
        { user: 'alice', password: canaryText(world.secrets.aliceNearMiss) },
      );
      expect(failed.status).toBe(401);
      const bearer = new WebClient(world.gatehouse);
      bearer.useToken(canaryText(aliceToken));
      expect((await web(bearer, 'alice-token')('GET', '/api/sessions')).status).toBe(200);
      const badBearer = new WebClient(world.gatehouse);
      badBearer.useToken(canaryText(tokenNearMiss));
      expect((await web(badBearer, 'bad-token')('GET', '/api/sessions')).status).toBe(401);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'postgres: psql with ALTER ROLE … PASSWORD, a bound password parameter, token and failed logins',
    async () => {
      const s = world.secrets;
      const script = [
        "SELECT 'MARK-PG-' || (40 + 2) AS marker;",
        `CREATE ROLE canary_role LOGIN PASSWORD '${canaryText(s.pgCreateRole)}';`,
        `ALTER ROLE canary_role WITH ENCRYPTED PASSWORD '${canaryText(s.pgAlterRole)}' VALID UNTIL 'infinity';`,
        `ALTER ROLE no_such_role PASSWORD '${canaryText(s.pgAlterMissing)}';`,
        'DROP ROLE canary_role;',
        '',
      ].join('\n');
      const session = await psql(world, 'alice#orders-db', canaryText(s.alicePassword), {
        input: script,
        args: ['-v', 'ON_ERROR_STOP=0'],
      });
      expect(session.stdout).toContain('MARK-PG-42');
      expect(session.stdout).toContain('ALTER ROLE');
      expect(session.stderr).toContain('no_such_role');

      const client = new pg.Client(
        world.pgClientConfig('alice#orders-db', canaryText(s.alicePassword)),
      );
      await client.connect();
      try {
        const updated = await client.query('UPDATE app_users SET password = $1 WHERE id = $2', [
          canaryText(s.pgParam),
          1,
        ]);
        expect(updated.rowCount).toBe(1);
        // A password literal in a named prepared statement (extended protocol: Parse/Bind/Execute).
        await client.query({
          name: 'make-role',
          text: `CREATE ROLE canary_prepared PASSWORD '${canaryText(s.pgPrepared)}'`,
        });
        await client.query('DROP ROLE canary_prepared');
      } finally {
        await client.end();
      }

      const nearMissRun = await psql(world, 'alice#orders-db', canaryText(s.aliceNearMiss), {
        args: ['-c', 'select 1'],
      });
      expect(nearMissRun.code).not.toBe(0);
      const tokenEnv = { PGOPTIONS: '-c gatehouse.auth=token' };
      const withToken = await psql(world, 'alice#orders-db', canaryText(aliceToken), {
        args: ['-At', '-c', 'select current_user'],
        env: tokenEnv,
      });
      expect(withToken.stdout.trim(), withToken.stderr).toBe('leased');
      const badToken = await psql(world, 'alice#orders-db', canaryText(tokenNearMiss), {
        args: ['-c', 'select 1'],
        env: tokenEnv,
      });
      expect(badToken.code).not.toBe(0);
      const cleartext = await psql(world, 'alice#orders-db', canaryText(s.aliceNearMiss), {
        args: ['-c', 'select 1'],
        env: { PGOPTIONS: '-c gatehouse.auth=password' },
      });
      expect(cleartext.code).not.toBe(0);
      // A read-only target refuses the statement before it reaches the database.
      const denied = await psql(world, 'alice#orders-ro', canaryText(s.alicePassword), {
        args: ['-c', `ALTER ROLE leased PASSWORD '${canaryText(s.pgDenied)}'`],
      });
      expect(denied.code).not.toBe(0);
      // The target refuses orders-wrong's leased password.
      const wrong = await psql(world, 'alice#orders-wrong', canaryText(s.alicePassword), {
        args: ['-c', 'select 1'],
      });
      expect(wrong.code).not.toBe(0);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'mysql: CREATE/ALTER USER … IDENTIFIED BY, SET PASSWORD, a bound password parameter, token and failed logins',
    async () => {
      const s = world.secrets;
      const other = `gh_cny_o_${randomBytes(4).toString('hex')}`;
      const script = [
        "SELECT CONCAT('MARK-MY-', 40 + 2) AS marker;",
        `CREATE USER '${other}'@'%' IDENTIFIED BY '${canaryText(s.myCreateUser)}';`,
        `ALTER USER '${other}'@'%' IDENTIFIED BY "${canaryText(s.myAlterUser)}";`,
        `DROP USER '${other}'@'%';`,
        `SET PASSWORD = PASSWORD('${canaryText(s.mySetPassword)}');`,
        '',
      ].join('\n');
      try {
        const session = await mariadb(
          world,
          'alice#shop-db',
          canaryText(s.alicePassword),
          ['--force', '-N', '-B'],
          script,
        );
        expect(session.stdout, session.stderr).toContain('MARK-MY-42');
        expect(session.stderr).toBe('');
      } finally {
        // SET PASSWORD changed the leased account's own password: give it back its credential.
        for (const host of world.mysqlAccount.hosts)
          await world.mysqlRoot('ALTER USER ?@? IDENTIFIED BY ?', [
            world.mysqlAccount.user,
            host,
            canaryText(s.mysqlPassword),
          ]);
        await world.mysqlRoot(`DROP USER IF EXISTS '${other}'@'%'`);
      }

      const conn = await mysql.createConnection(
        world.mysqlOptions('alice#shop-db', canaryText(s.alicePassword)),
      );
      try {
        const [result] = await conn.execute<mysql.ResultSetHeader>(
          'UPDATE app_users SET password = ? WHERE id = ?',
          [canaryText(s.myParam), 1],
        );
        expect(result.affectedRows).toBe(1);
        // A password literal in a prepared statement (COM_STMT_PREPARE / COM_STMT_EXECUTE).
        await conn.execute(
          `CREATE USER '${other}'@'%' IDENTIFIED BY '${canaryText(s.myPrepared)}'`,
        );
        await conn.execute(`DROP USER '${other}'@'%'`);
      } finally {
        await conn.end();
        await world.mysqlRoot(`DROP USER IF EXISTS '${other}'@'%'`);
      }

      const nearMissRun = await mariadb(world, 'alice#shop-db', canaryText(s.aliceNearMiss), [
        '-e',
        'select 1',
      ]);
      expect(nearMissRun.code).not.toBe(0);
      const withToken = await mariadb(world, 'alice#shop-db', canaryText(aliceToken), [
        '-N',
        '-B',
        '-e',
        "select 'token-ok'",
      ]);
      expect(withToken.stdout, withToken.stderr).toBe('token-ok\n');
      const badToken = await mariadb(world, 'alice#shop-db', canaryText(tokenNearMiss), [
        '-e',
        'select 1',
      ]);
      expect(badToken.code).not.toBe(0);
      // A read-only target refuses the statement (mysql2: the mariadb client would print the
      // failed statement itself); the error the user gets must not quote it.
      const ro = await mysql.createConnection(
        world.mysqlOptions('alice#shop-ro', canaryText(s.alicePassword)),
      );
      try {
        const refusal = await ro.query(`SET PASSWORD = PASSWORD('${canaryText(s.myDenied)}')`).then(
          () => 'accepted',
          (err: unknown) => (err instanceof Error ? err.message : String(err)),
        );
        world.note('client:mysql2 alice#shop-ro (error)', refusal);
        expect(refusal).toMatch(/read-only|denied|refused/i);
      } finally {
        await ro.end();
      }
      const wrong = await mariadb(world, 'alice#shop-wrong', canaryText(s.alicePassword), [
        '-e',
        'select 1',
      ]);
      expect(wrong.code).not.toBe(0);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'crash: a Node report on SIGUSR2, an uncaught exception and SIGKILL with sessions open, then restarts',
    async () => {
      const { gatehouse } = world;
      // 1. A diagnostic report while serving (the process keeps running).
      process.kill(gatehouse.pid, 'SIGUSR2');
      await waitFor(() => readdirSync(world.reportsDir).length >= 1, 'a Node report after SIGUSR2');

      // 2. An uncaught exception with a pty session (sudo typed), a PostgreSQL and a MySQL session open.
      await openSessions();
      const crashedPid = gatehouse.pid;
      process.kill(crashedPid, 'SIGHUP');
      await waitFor(() => !isAlive(crashedPid), 'the server to die of the uncaught exception');
      expect(gatehouse.logs()).toContain('injected uncaught exception (canary test)');
      await waitFor(
        () => readdirSync(world.reportsDir).length >= 2,
        'the uncaught-exception report',
      );
      closeClients();
      await gatehouse.restart();

      // 3. SIGKILL with sessions open.
      await openSessions();
      await gatehouse.kill();
      closeClients();
      await gatehouse.restart();

      // After the restarts: what an operator reads.
      const verify = await world.cli(['audit', 'verify'], { mayFail: true });
      world.note('audit verify exit code', String(verify.code));
      const sessions = await world.cli(['sessions', 'list', '-n', '1000', '--json']);
      const rows = sessions.stdout
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { sid: string; kind: string });
      for (const row of rows.filter((r) => r.kind === 'ssh')) sshSids.push(row.sid);
      // The first SSH session (sudo typed, ended normally) as the CLI exports it; the web API
      // below serves every recording.
      const firstSsh = sshSids.at(-1);
      if (firstSsh !== undefined)
        await world.cli(['recording', 'export', firstSsh], { mayFail: true });
      await world.cli(['audit', 'tail', '-n', '100000', '--json']);
      await world.cli(['credential', 'show', 'box-key', '--json']);
      const admin = new WebClient(gatehouse);
      const adminPassword = world.generated.find((c) => c.name === 'admin-password');
      await admin.login('admin', canaryText(adminPassword ?? makeCanary('missing')));
      for (const path of [
        '/api/audit/events?limit=5000',
        '/api/sessions?limit=500',
        '/api/audit/verify',
        '/api/audit/checkpoints',
      ]) {
        world.note(`http:admin GET ${path}`, (await admin.call('GET', path)).text);
      }
      for (const row of rows) {
        const path =
          row.kind === 'ssh'
            ? `/api/sessions/${row.sid}/recordings/0`
            : `/api/sessions/${row.sid}/transcript`;
        world.note(`http:admin GET ${path}`, (await admin.call('GET', path)).text);
        world.note(
          `http:admin GET /api/sessions/${row.sid}`,
          (await admin.call('GET', `/api/sessions/${row.sid}`)).text,
        );
      }
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'search: no canary in any form anywhere Gatehouse wrote or printed; a planted one is found',
    async () => {
      const { gatehouse } = world;
      const canaries = world.allCanaries();
      // Every canary is distinct and long enough that a chance match is impossible.
      expect(new Set(canaries.map((c) => c.value.toString('hex'))).size).toBe(canaries.length);
      for (const c of canaries) expect(c.value.length, c.name).toBeGreaterThanOrEqual(24);

      // The running server: its process arguments and environment, and the data dir as it is now.
      const proc: Haystack[] = [];
      expect(
        isAlive(gatehouse.pid),
        'gatehouse serve runs (after the crash step restarted it)',
      ).toBe(true);
      for (const pid of [gatehouse.pid, ...descendants(gatehouse.pid)]) {
        for (const file of ['cmdline', 'environ'])
          proc.push({
            where: `/proc/${pid}/${file} (serve)`,
            bytes: readFileSync(`/proc/${pid}/${file}`),
          });
      }
      runningSnapshots.push(...fileHaystacks(gatehouse.dir, 'running'));
      const storeFiles = runningSnapshots
        .map((h) => h.where)
        .filter((w) => /gatehouse\.db(-wal|-shm)?$/.test(w));
      expect(storeFiles.some((w) => w.endsWith('-wal'))).toBe(true);
      await gatehouse.stop();
      const serveLog = textHaystack('serve stdout+stderr (all runs)', gatehouse.logs());
      const cpLog = textHaystack(
        'control plane in the test process (log)',
        world.controlPlaneLog(),
      );

      // Positive control: a leak planted in the data dir is found by the same walk and search.
      const planted = plantLeak(
        gatehouse.dir,
        world.secrets.bobPassword,
        world.secrets.sshKey,
        aliceToken,
      );
      const stopped = fileHaystacks(gatehouse.dir, 'stopped');
      const reports = fileHaystacks(world.reportsDir, 'report');
      const haystacks = [
        serveLog,
        cpLog,
        ...world.outputs,
        ...proc,
        ...runningSnapshots,
        ...stopped,
        ...reports,
      ];

      const hits = findCanaries(canaries, haystacks);
      const controlHits = hits.filter((h) => h.where.endsWith(planted.file));
      const leaks = hits.filter((h) => !h.where.endsWith(planted.file));
      expect(leaks, describeHits(leaks)).toEqual([]);
      const controlFound = new Set(controlHits.map((h) => `${h.canary} ${h.form}`));
      for (const form of planted.expected) expect(controlFound, form).toContain(form);
      // Nothing else there: the seed's own base64 inside the PEM line is the one extra kind.
      for (const hit of controlHits) expect(planted.canaries).toContain(hit.canary);

      // Not vacuous: the places searched hold the sessions (markers the shell and SQL computed or
      // sent), the redacted statements, the crash output and the store with its WAL.
      const all = (where: RegExp): string =>
        haystacks
          .filter((h) => where.test(h.where))
          .map((h) => h.bytes.toString('latin1'))
          .join('\n');
      const casts = all(/\.cast$/);
      expect(casts).toContain('MARK-PTY-42');
      expect(casts).toContain('SUDO-prompt:');
      const store = all(/^stopped:.*gatehouse\.db$/);
      for (const marker of [
        'MARK-EXEC-',
        "'MARK-PG-'",
        "'MARK-MY-'",
        "PASSWORD '[redacted]'",
        "IDENTIFIED BY '[redacted]'",
        'auth.failure',
        'db.denied',
      ])
        expect(store, marker).toContain(marker);
      expect(all(/\.db\.ndjson$/)).toContain('[redacted]');
      expect(serveLog.bytes.toString()).toContain('injected uncaught exception');
      expect(reports.length).toBeGreaterThanOrEqual(2);
      expect(haystacks.reduce((n, h) => n + h.bytes.length, 0)).toBeGreaterThan(1_000_000);
      // Each canary has its forms (plain, hex, base64 at three alignments…).
      expect(canaryForms(world.secrets.sudoPassword).length).toBeGreaterThanOrEqual(10);
    },
    STEP_TIMEOUT_MS,
  );

  /** Opens a pty session (sudo password typed), a PostgreSQL and a MySQL session that used canaries. */
  async function openSessions(): Promise<void> {
    await sudoSession();
    const s = world.secrets;
    const pgClient = new pg.Client(
      world.pgClientConfig('alice#orders-db', canaryText(s.alicePassword)),
    );
    pgClient.on('error', () => undefined);
    await pgClient.connect();
    dbClients.push(pgClient);
    await pgClient.query('BEGIN');
    // Rolled back when the crash drops the connection: the leased password stays as it was.
    await pgClient.query(`ALTER ROLE leased PASSWORD '${canaryText(s.pgAlterRole)}'`);
    await pgClient.query('UPDATE app_users SET password = $1 WHERE id = 1', [
      canaryText(s.pgParam),
    ]);
    const myConn = await mysql.createConnection(
      world.mysqlOptions('alice#shop-db', canaryText(s.alicePassword)),
    );
    myConn.on('error', () => undefined);
    dbClients.push(myConn);
    await myConn.execute('UPDATE app_users SET password = ? WHERE id = 1', [canaryText(s.myParam)]);
  }

  function closeClients(): void {
    for (const p of ptys) p.kill();
    ptys.clear();
    for (const c of dbClients.splice(0)) void c.end().catch(() => undefined);
  }
});

/** Writes a scratch file into `dir` with canaries in some forms; returns what the search must report for it. */
function plantLeak(
  dir: string,
  password: Canary,
  key: readonly Canary[],
  token: Canary,
): { file: string; canaries: string[]; expected: string[] } {
  const file = 'positive-control.bin';
  const seed = key.find((c) => c.name.endsWith('-seed'));
  const line = key.find((c) => c.name.includes('pem-line'));
  if (seed === undefined || line === undefined) throw new Error('no key canaries');
  const tokenB64 = Buffer.concat([Buffer.from('x'), token.value]).toString('base64'); // alignment 1
  const parts = [
    randomBytes(100),
    Buffer.from(`password=${password.value.toString('hex')};`),
    randomBytes(7),
    seed.value,
    Buffer.from(`\n${tokenB64}\n${line.value.toString('latin1')}\n`),
  ];
  writeFileSync(join(dir, file), Buffer.concat(parts));
  const seedHalves = ['first-half plain', 'second-half plain'];
  const hexHalves = ['first-half hex', 'second-half hex'];
  return {
    file,
    canaries: [password.name, seed.name, token.name, line.name],
    expected: [
      `${password.name} hex`,
      ...hexHalves.map((f) => `${password.name} ${f}`),
      `${seed.name} plain`,
      ...seedHalves.map((f) => `${seed.name} ${f}`),
      `${token.name} base64+1`,
      `${line.name} plain`,
    ],
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') !== true;
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || !existsSync(`/proc/${entry}/stat`)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry), ...descendants(Number(entry)));
    } catch {
      // gone
    }
  }
  return out;
}
