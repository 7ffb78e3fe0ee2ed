import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { cpuSplit } from '../bench/lib/cpu-split.js';

// `npm run bench -- --split-cpus`: where the middle process, the client and the server run.
const allowed = (pid: number | string): string =>
  /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';

/** A server on a free port that starts a child (`sleep`) per line it reads and prints its pid. */
const SERVER = `
const net = require('node:net');
const { spawn } = require('node:child_process');
const server = net.createServer().listen(0, '127.0.0.1', () => console.log(server.address().port));
require('node:readline').createInterface({ input: process.stdin }).on('line', () =>
  console.log(spawn('sleep', ['30'], { stdio: 'ignore' }).pid));
`;

describe.runIf(availableParallelism() >= 2)('bench --split-cpus', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
  });

  it('the-bench-and-what-it-starts-run-on-the-rest-and-the-middle-alone-on-the-last-cpu', () => {
    const split = cpuSplit(true);
    const last = availableParallelism() - 1;
    expect(split.cpus?.middle).toBe(String(last));
    const every = allowed(process.pid);
    const undo = split.harness();
    try {
      expect(allowed(process.pid)).toBe(split.cpus?.rest);
      const status = spawnSync('cat', ['/proc/self/status'], { encoding: 'utf8' }).stdout;
      expect(/^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1]).toBe(split.cpus?.rest);
      const middle = spawn('sleep', ['30'], { stdio: 'ignore' });
      children.push(middle);
      split.middle(middle.pid);
      expect(allowed(middle.pid ?? 0)).toBe(String(last));
    } finally {
      undo();
    }
    expect(allowed(process.pid)).toBe(every);
  });

  it('the-server-and-the-children-it-starts-later-leave-the-middles-cpu-until-undone', async () => {
    const server = spawn(process.execPath, ['-e', SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(server);
    const lines = createInterface({ input: server.stdout })[Symbol.asyncIterator]();
    const next = async (): Promise<number> => Number((await lines.next()).value);
    const port = await next();
    const split = cpuSplit(true);
    const every = allowed(process.pid);

    const undo = split.server(port);
    expect(allowed(server.pid ?? 0)).toBe(split.cpus?.rest);
    server.stdin.write('\n');
    const child = await next();
    expect(allowed(child)).toBe(split.cpus?.rest);
    undo();
    expect(allowed(server.pid ?? 0)).toBe(every);
    process.kill(child, 'SIGKILL');
  });

  it('off-changes-nothing', () => {
    const split = cpuSplit(false);
    expect(split.cpus).toBeUndefined();
    const before = allowed(process.pid);
    split.harness()();
    split.middle(process.pid);
    expect(allowed(process.pid)).toBe(before);
  });
});
