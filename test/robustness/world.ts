import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { openControlPlane } from '../../src/cli/context.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { startGatehouse, type RunningGatehouse } from '../support/gatehouse.js';
import { createMariadbAccount, type MariadbAccount } from '../support/mariadb-account.js';
import { mariadbArgs } from '../support/mariadb-args.js';
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js';
import { pgConninfo } from '../support/pg-conninfo.js';
import { createSshKeyPair, type SshKeyPair } from '../support/ssh-keys.js';
import { addSshTarget } from '../support/ssh-target.js';
import { runSshClient, startSshd, type Sshd, type SshClientResult } from '../support/sshd.js';
import { runProcess, type PsqlResult } from '../postgres/fixture.js';
import { runCli, type CliResult } from '../mysql/fixture.js';

/** Alice's Gatehouse password (PostgreSQL SCRAM, MySQL, web). */
export const ALICE_PASSWORD = 'alice-Gatehouse-pw-1';

/**
 * One Gatehouse with every listener in front of real targets (sshd `web-1`, a PostgreSQL
 * cluster `orders-db`, the machine's MariaDB `shop-db`), alice granted all three: the
 * well-behaved clients of the robustness tests.
 */
export interface ListenerWorld extends AsyncDisposable {
  readonly gatehouse: RunningGatehouse;
  readonly caPath: string;
  /** `ssh alice@bastion web-1 COMMAND` with the real client. */
  ssh(command: string): Promise<SshClientResult>;
  /** `psql` through Gatehouse (verify-full). */
  psql(sql: string): Promise<PsqlResult>;
  /** `mariadb` through Gatehouse (TLS, verified). */
  mariadb(sql: string): Promise<CliResult>;
}

/** Starts the targets and a Gatehouse with `config` sections (e.g. `limits`) set. */
export async function startListenerWorld(
  config: Readonly<Record<string, unknown>>,
): Promise<ListenerWorld> {
  const cleanups: (() => PromiseLike<unknown>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    const leasedPassword = `leased-${randomBytes(6).toString('hex')}`;
    // Gatehouse first and alone: its init (host keys, CA) is the slow part on a loaded machine.
    const gatehouse = await startGatehouse({ config });
    cleanups.push(() => gatehouse[Symbol.asyncDispose]());
    const [sshd, cluster, account, alice] = await Promise.all([
      startSshd(),
      startPgCluster({ superPassword: `super-${randomBytes(6).toString('hex')}` }),
      createMariadbAccount({ password: leasedPassword, prefix: 'gh_rb_' }),
      createSshKeyPair({ type: 'ed25519', comment: 'alice@laptop' }),
    ]);
    cleanups.push(
      () => sshd[Symbol.asyncDispose](),
      () => cluster.stop(),
      () => account.drop(),
      () => alice[Symbol.asyncDispose](),
    );
    await setUpTargets({ sshd, cluster, account, gatehouse, alice, leasedPassword });
    const caPath = join(gatehouse.dir, 'tls', 'ca.crt');
    return {
      gatehouse,
      caPath,
      ssh: (command) =>
        runSshClient({
          host: '127.0.0.1',
          port: gatehouse.sshPort,
          user: 'alice',
          identityPath: alice.privatePath,
          command,
          timeoutMs: 60_000,
        }),
      psql: (sql) =>
        runProcess(
          'psql',
          [
            '-X',
            '-At',
            '-v',
            'ON_ERROR_STOP=1',
            pgConninfo({ port: gatehouse.pgPort, login: 'alice#orders-db', dbname: 'app', caPath }),
            '-c',
            sql,
          ],
          {
            env: { PGPASSWORD: ALICE_PASSWORD, PGCONNECT_TIMEOUT: '30' },
            timeoutMs: 60_000,
          },
        ),
      mariadb: (sql) =>
        runCli(
          [
            ...mariadbArgs({ port: gatehouse.mysqlPort, login: 'alice#shop-db', caPath }),
            '-N',
            '-B',
            '-e',
            sql,
          ],
          {
            env: { MYSQL_PWD: ALICE_PASSWORD },
            timeoutMs: 60_000,
          },
        ),
      [Symbol.asyncDispose]: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

interface Parts {
  readonly sshd: Sshd;
  readonly cluster: PgCluster;
  readonly account: MariadbAccount;
  readonly gatehouse: RunningGatehouse;
  readonly alice: SshKeyPair;
  readonly leasedPassword: string;
}

async function setUpTargets({
  sshd,
  cluster,
  account,
  gatehouse,
  alice,
  leasedPassword,
}: Parts): Promise<void> {
  const superClient = new pg.Client({ connectionString: cluster.url });
  await superClient.connect();
  await superClient.query(`CREATE ROLE leased LOGIN PASSWORD '${leasedPassword}'`);
  await superClient.query('CREATE DATABASE app OWNER leased');
  await superClient.end();

  const cp = await openControlPlane(loadConfig(gatehouse.configPath), {
    logger: createLogger({ level: 'silent' }),
  });
  try {
    const by = { actor: 'test' };
    await cp.users.add('alice', { ...by, password: ALICE_PASSWORD });
    await cp.users.addKey('alice', alice.publicLine, by);
    await cp.targets.add(
      {
        name: 'orders-db',
        kind: 'postgres',
        host: cluster.host,
        port: cluster.port,
        username: 'leased',
        database: 'app',
      },
      by,
    );
    await cp.credentials.set(
      'orders-db',
      { kind: 'password', password: Buffer.from(leasedPassword) },
      by,
    );
    await cp.targets.add(
      {
        name: 'shop-db',
        kind: 'mysql',
        host: account.host,
        port: account.port,
        username: account.user,
      },
      by,
    );
    await cp.credentials.set(
      'shop-db',
      { kind: 'password', password: Buffer.from(leasedPassword) },
      by,
    );
    for (const name of ['orders-db', 'shop-db'])
      await cp.grants.create(
        {
          subject: { kind: 'user', name: 'alice' },
          scope: { kind: 'target', name },
          durationMs: 3_600_000,
        },
        by,
      );
  } finally {
    await cp.close();
  }
  await addSshTarget({ gatehouse, sshd }, 'web-1');
}
