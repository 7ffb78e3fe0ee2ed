import type { Target } from '../core/types.js';

/** One copy-paste command for reaching a target through Gatehouse. */
export interface ConnectCommand {
  readonly label: string;
  readonly command: string;
}

/** Where clients reach Gatehouse: the host name and the port of each enabled front end. */
export interface BastionAddress {
  readonly host: string;
  readonly sshPort?: number | undefined;
  readonly postgresPort?: number | undefined;
  readonly mysqlPort?: number | undefined;
}

/**
 * The client command lines for `user` to reach `target` through the bastion, in each form the
 * front ends accept (DESIGN.md §7). Names are quoted for a POSIX shell where they need it.
 */
export function connectCommands(
  user: string,
  target: Target,
  at: BastionAddress,
): ConnectCommand[] {
  const host = formatHost(at.host);
  switch (target.kind) {
    case 'ssh': {
      if (at.sshPort === undefined) return [];
      const p = at.sshPort === 22 ? '' : `-p ${at.sshPort} `;
      const P = at.sshPort === 22 ? '' : `-P ${at.sshPort} `;
      const login = `${user}+${target.name}@${host}`;
      return [
        { label: 'Shell', command: `ssh ${p}${user}@${host} ${target.name}` },
        { label: 'One command', command: `ssh ${p}${user}@${host} ${target.name} uptime` },
        { label: 'Target in the login', command: `ssh ${p}${login}` },
        {
          label: 'Jump host (-J)',
          command: `ssh -J ${user}@${host}${at.sshPort === 22 ? '' : `:${at.sshPort}`} ${target.name}`,
        },
        { label: 'Copy a file (scp)', command: `scp ${P}./file.txt ${login}:/tmp/` },
        { label: 'SFTP', command: `sftp ${P}${login}` },
        {
          label: 'rsync',
          command: `rsync -av -e ${shellQuote(`ssh ${p}`.trim())} ./dir/ ${login}:dir/`,
        },
      ];
    }
    case 'postgres': {
      if (at.postgresPort === undefined) return [];
      const db = target.database === null ? '' : ` dbname=${target.database}`;
      return [
        {
          label: 'psql',
          command: `psql ${shellQuote(`host=${at.host} port=${at.postgresPort} user=${user}#${target.name}${db} sslmode=require`)}`,
        },
        {
          label: 'psql, verifying the certificate',
          command: `psql ${shellQuote(`host=${at.host} port=${at.postgresPort} user=${user}#${target.name}${db} sslmode=verify-full sslrootcert=gatehouse-ca.crt`)}`,
        },
        {
          label: 'Connection URL',
          command: `postgresql://${encodeURIComponent(`${user}#${target.name}`)}@${host}:${at.postgresPort}/${target.database ?? ''}?sslmode=require`,
        },
      ];
    }
    case 'mysql': {
      if (at.mysqlPort === undefined) return [];
      const db = target.database === null ? '' : ` ${shellQuote(target.database)}`;
      return [
        {
          label: 'mysql',
          command: `mysql -h ${at.host} -P ${at.mysqlPort} -u ${shellQuote(`${user}#${target.name}`)} -p --ssl${db}`,
        },
        {
          label: 'mariadb',
          command: `mariadb -h ${at.host} -P ${at.mysqlPort} -u ${shellQuote(`${user}#${target.name}`)} -p --ssl${db}`,
        },
      ];
    }
  }
}

/** A host for a `user@host` or URL position: IPv6 literals get brackets. */
function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** Quotes `text` for a POSIX shell unless it is made only of safe characters. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
