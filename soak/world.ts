import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { Cleanup } from '../bench/lib/cleanup.js';
import { startGatehouse, type RunningGatehouse } from '../test/support/gatehouse.js';
import {
  createMariadbDatabaseAccount,
  raiseMaxConnections,
  TEST_MYSQL_URL,
} from '../test/support/mariadb-account.js';
import { startPgCluster } from '../test/support/pg-cluster.js';
import { createSshKeyPair, type SshKeyPair } from '../test/support/ssh-keys.js';
import { startSshd, type Sshd } from '../test/support/sshd.js';
import { connectInspector, type Inspector } from './inspector.js';
import { progress } from './progress.js';

/** The target account on the soak's sshd (its own, so other test files' accounts are untouched). */
const SSH_ACCOUNT = 'gh_soak';
const PG_ROLE = 'soak_leased';
const PG_DATABASE = 'soak';
/** Connections the upstream databases keep free for others (superuser, checks, other tests). */
const SPARE_CONNECTIONS = 60;

/** The table every database session writes to (the same on PostgreSQL and MariaDB). */
export const SOAK_TABLE_SQL =
  'CREATE TABLE soak_items (worker INT NOT NULL, n INT NOT NULL, touched INT NOT NULL DEFAULT 0, PRIMARY KEY (worker, n))';

/** One Gatehouse in front of an sshd, a throwaway PostgreSQL cluster and a MariaDB database. */
export interface SoakWorld extends AsyncDisposable {
  readonly gatehouse: RunningGatehouse;
  /** The Gatehouse process's inspector (forced GC and heap figures). */
  readonly inspector: Inspector;
  readonly sshd: Sshd;
  /** alice's SSH key (she logs in with it; her password serves the databases). */
  readonly key: SshKeyPair;
  readonly alicePassword: string;
  /** Gatehouse's CA (its front ends' TLS). */
  readonly caPath: string;
  readonly caPem: string;
  /** Targets, all granted to alice. */
  readonly targets: { readonly ssh: string; readonly pg: string; readonly mysql: string };
  /** Runs SQL on the PostgreSQL target directly (as the cluster's superuser). */
  pgDirect<T extends pg.QueryResultRow>(sql: string): Promise<T[]>;
  /** Runs SQL on the MariaDB target database directly (as root). */
  mysqlDirect<T>(sql: string): Promise<T[]>;
}

/**
 * Starts everything the soak needs, sized for `db` database connections: sshd (its own account
 * `gh_soak`), a SCRAM-only PostgreSQL cluster with enough `max_connections`, a MariaDB account
 * and database (the machine's server: its `max_connections` is raised when too low, never
 * lowered), and `gatehouse serve` with the inspector on (for a forced GC before reading memory).
 */
export async function startSoakWorld(options: {
  readonly db: number;
  readonly cpuProfDir?: string | undefined;
}): Promise<SoakWorld> {
  const cleanup = new Cleanup();
  try {
    const alicePassword = randomBytes(12).toString('hex');
    const pgLeased = randomBytes(12).toString('hex');
    const myLeased = randomBytes(12).toString('hex');
    const pgCount = Math.ceil(options.db / 2);
    progress('starting gatehouse, sshd, PostgreSQL cluster, MariaDB account');
    const [gatehouse, sshd, key, cluster, account] = await Promise.all([
      // `--inspect=…:0`: a free port, announced on stderr (the soak reads it from the logs).
      startGatehouse({
        nodeArgs: [
          '--inspect=127.0.0.1:0',
          ...(options.cpuProfDir === undefined
            ? []
            : [
                '--cpu-prof',
                `--cpu-prof-dir=${options.cpuProfDir}`,
                '--cpu-prof-name=gatehouse.cpuprofile',
              ]),
        ],
      }).then((g) => cleanup.use(g)),
      startSshd({ account: SSH_ACCOUNT }).then((d) => cleanup.use(d)),
      createSshKeyPair({ type: 'ed25519', comment: 'alice@soak' }).then((k) => cleanup.use(k)),
      startPgCluster({
        superPassword: randomBytes(12).toString('hex'),
        settings: { max_connections: String(pgCount + SPARE_CONNECTIONS) },
      }).then((c) => cleanup.use(c)),
      createMariadbDatabaseAccount({ password: myLeased, prefix: 'gh_soak_' }).then((a) =>
        cleanup.use(a),
      ),
    ]);
    // An interrupted run (Ctrl-C) must not leave the server behind; sshd and the cluster have
    // exit hooks of their own.
    const killGatehouse = (): void => {
      try {
        process.kill(gatehouse.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    process.once('exit', killGatehouse);
    cleanup.defer(() => process.removeListener('exit', killGatehouse));
    const inspector = await connectInspector(() => gatehouse.logs());
    cleanup.defer(() => inspector.close());

    const pgDirect = async <T extends pg.QueryResultRow>(sql: string): Promise<T[]> => {
      const client = new pg.Client({
        connectionString: cluster.url.replace(/\/postgres$/, `/${PG_DATABASE}`),
      });
      await client.connect();
      try {
        return (await client.query<T>(sql)).rows;
      } finally {
        await client.end();
      }
    };
    const superClient = new pg.Client({ connectionString: cluster.url });
    await superClient.connect();
    await superClient.query(`CREATE ROLE ${PG_ROLE} LOGIN PASSWORD '${pgLeased}'`);
    await superClient.query(`CREATE DATABASE ${PG_DATABASE} OWNER ${PG_ROLE}`);
    await superClient.end();
    await pgDirect(`${SOAK_TABLE_SQL}; ALTER TABLE soak_items OWNER TO ${PG_ROLE}`);

    const { database } = account;
    const mysqlDirect = async <T>(sql: string): Promise<T[]> => {
      const root = await mysql.createConnection({ uri: TEST_MYSQL_URL, database });
      try {
        const [rows] = await root.query(sql);
        return rows as T[];
      } finally {
        await root.end();
      }
    };
    const root = await mysql.createConnection({ uri: TEST_MYSQL_URL });
    try {
      await raiseMysqlMaxConnections(root, options.db - pgCount + SPARE_CONNECTIONS);
    } finally {
      await root.end();
    }
    await mysqlDirect(SOAK_TABLE_SQL);

    progress(`gatehouse pid ${gatehouse.pid}: adding alice and the targets`);
    const targets = { ssh: 'soak-ssh', pg: 'soak-pg', mysql: 'soak-my' } as const;
    await gatehouse.cli(['user', 'add', 'alice', '--ssh-key', key.publicPath, '--password-stdin'], {
      stdin: `${alicePassword}\n`,
    });
    // One CLI process at a time: each is a Node start-up, and on a loaded machine several at
    // once can run past the CLI helper's timeout.
    for (const step of [
      async () => {
        await gatehouse.cli([
          'target', 'add', targets.ssh, '--kind', 'ssh', '--host', sshd.host,
          '--port', String(sshd.port), '--username', sshd.account,
        ]); // prettier-ignore
        const generated = await gatehouse.cli([
          'credential',
          'set',
          targets.ssh,
          '--generate-ssh-key',
        ]);
        sshd.authorizeKey(generated.stdout.trim());
        await gatehouse.cli(['target', 'trust', targets.ssh]);
      },
      async () => {
        await gatehouse.cli([
          'target', 'add', targets.pg, '--kind', 'postgres', '--host', cluster.host,
          '--port', String(cluster.port), '--username', PG_ROLE, '--database', PG_DATABASE,
        ]); // prettier-ignore
        await gatehouse.cli(['credential', 'set', targets.pg, '--password-stdin'], {
          stdin: `${pgLeased}\n`,
        });
      },
      async () => {
        await gatehouse.cli([
          'target', 'add', targets.mysql, '--kind', 'mysql', '--host', account.host,
          '--port', String(account.port), '--username', account.user, '--database', database,
        ]); // prettier-ignore
        await gatehouse.cli(['credential', 'set', targets.mysql, '--password-stdin'], {
          stdin: `${myLeased}\n`,
        });
      },
    ])
      await step();
    for (const t of Object.values(targets))
      await gatehouse.cli(['grant', 'alice', t, '--for', '24h']);
    const caPath = join(gatehouse.dir, 'tls', 'ca.crt');
    return {
      gatehouse,
      inspector,
      sshd,
      key,
      alicePassword,
      caPath,
      caPem: readFileSync(caPath, 'utf8'),
      targets,
      pgDirect,
      mysqlDirect,
      [Symbol.asyncDispose]: () => cleanup[Symbol.asyncDispose](),
    };
  } catch (err) {
    await cleanup[Symbol.asyncDispose]().catch(() => undefined);
    throw err;
  }
}

async function raiseMysqlMaxConnections(root: mysql.Connection, needed: number): Promise<void> {
  const raised = await raiseMaxConnections(root, needed);
  if (raised !== undefined)
    progress(`MariaDB max_connections ${raised.from} → ${raised.to} (${raised.inUse} in use)`);
}
