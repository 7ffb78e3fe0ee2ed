import { describe, expect, it } from 'vitest';
import { DEFAULT_TARGET_OPTIONS, type Target } from '../core/types.js';
import { connectCommands, shellQuote } from './connect-commands.js';

const target = (kind: Target['kind'], name: string, database: string | null = null): Target => ({
  id: 't',
  name,
  kind,
  host: '10.0.0.5',
  port: 22,
  username: 'deploy',
  database,
  labels: {},
  options: DEFAULT_TARGET_OPTIONS,
  hostKey: null,
  createdAt: 0,
});
const at = { host: 'bastion.example', sshPort: 2222, postgresPort: 15432, mysqlPort: 13306 };

describe('connect commands', () => {
  it('ssh-forms-name-the-bastion-port-and-target-in-every-client-form', () => {
    const cmds = connectCommands('alice', target('ssh', 'web-1'), at).map((c) => c.command);
    expect(cmds).toEqual([
      'ssh -p 2222 alice@bastion.example web-1',
      'ssh -p 2222 alice@bastion.example web-1 uptime',
      'ssh -p 2222 alice+web-1@bastion.example',
      'ssh -J alice@bastion.example:2222 web-1',
      'scp -P 2222 ./file.txt alice+web-1@bastion.example:/tmp/',
      'sftp -P 2222 alice+web-1@bastion.example',
      "rsync -av -e 'ssh -p 2222' ./dir/ alice+web-1@bastion.example:dir/",
    ]);
  });

  it('database-forms-put-the-target-after-a-hash-in-the-user-and-quote-it', () => {
    expect(connectCommands('alice', target('postgres', 'orders-db', 'app'), at)[0]?.command).toBe(
      "psql 'host=bastion.example port=15432 user=alice#orders-db dbname=app sslmode=require'",
    );
    expect(connectCommands('bob', target('mysql', 'shop-db'), at)[0]?.command).toBe(
      "mysql -h bastion.example -P 13306 -u 'bob#shop-db' -p --ssl",
    );
  });

  it('a-disabled-front-end-gives-no-commands-and-quoting-survives-quotes', () => {
    expect(connectCommands('alice', target('mysql', 'x'), { host: 'h' })).toEqual([]);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});
