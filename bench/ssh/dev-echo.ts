// Dev helper (not part of the bench run): the echo workload of bench/ssh/echo.ts with what a
// look at one keystroke needs. Starts sshd, the bare relay and Gatehouse (and the build in
// BASE_DIR, as `gatehouse-base`, for a before/after), then runs ROUNDS × PATHS echo sessions of
// KEYS keys (A B C / C B A) and prints per session the latency quartiles and the middle
// process's CPU per key, and with
// - TRACE=1: the residence time of a packet in the middle process: from the read syscall that
//   brought it to the write syscall that sent it on, per direction (`perf record` of the
//   syscall tracepoints; needs perf and root). Steadier than latency on a loaded machine, and
//   what the relay's own path costs;
// - STRACE=1: the system calls per key (`strace -f -c`);
// - THREADS=1: per thread of the middle process, CPU and context switches (voluntary, i.e.
//   wake-ups after a wait, and involuntary) per key, from /proc (no tool attached);
// - PERF_DIR=DIR: a `perf record -g` profile per session (with GH_NODE_ARGS=--perf-basic-prof
//   for JavaScript names); BASE_NODE_ARGS: other flags for `gatehouse-base` (BASE_DIR may be
//   this build, to compare flags).
// Everything is attached after the prompt (and WARM keys), so login and setup are not counted.
//   PATHS=bare-relay,gatehouse,gatehouse-norec KEYS=300 ROUNDS=2 TRACE=1 \
//     node bench/launch.mjs bench/ssh/dev-echo.ts
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pty from 'node-pty';
import { cpuTimeUs, sleep } from '../lib/processes.js';
import { startSshBench } from './world.js';

const env = process.env;
const pathIds = (env['PATHS'] ?? 'direct,bare-relay,gatehouse,gatehouse-norec').split(',');
const keys = Number(env['KEYS'] ?? 300);
const warmKeys = Number(env['WARM'] ?? 0);
const rounds = Number(env['ROUNDS'] ?? 2);
const gapMs = Number(env['GAP_MS'] ?? 10);
const READY = 'GH-BENCH-READY';
const LETTERS = 'abcdefghijklmnopqrstuvwxyz0123456789';

function quartiles(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const q = (p: number): string =>
    (sorted[Math.floor(p * (sorted.length - 1))] ?? Number.NaN).toFixed(0);
  return `p25 ${q(0.25)} p50 ${q(0.5)} p75 ${q(0.75)}`;
}

/** Per thread of `pid` (by tid): its name, CPU (µs) and context switches so far. */
function threadCounters(pid: number): Map<string, { name: string; cpuUs: number; ctx: number[] }> {
  const threads = new Map<string, { name: string; cpuUs: number; ctx: number[] }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const dir = `/proc/${pid}/task/${tid}`;
      const status = readFileSync(`${dir}/status`, 'utf8');
      const count = (key: string): number =>
        Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
      threads.set(tid, {
        name: readFileSync(`${dir}/comm`, 'utf8').trim(),
        cpuUs: Number(readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[0]) / 1000,
        ctx: [count('voluntary_ctxt_switches'), count('nonvoluntary_ctxt_switches')],
      });
    } catch {
      // the thread ended meanwhile
    }
  }
  return threads;
}

/** What each thread did between two {@link threadCounters}, per key; idle threads left out. */
function perThread(
  before: ReturnType<typeof threadCounters>,
  after: ReturnType<typeof threadCounters>,
  keys: number,
): string {
  return [...after]
    .map(([tid, a]) => {
      const b = before.get(tid) ?? { cpuUs: 0, ctx: [0, 0] };
      const cpu = (a.cpuUs - b.cpuUs) / keys;
      const vol = ((a.ctx[0] ?? 0) - (b.ctx[0] ?? 0)) / keys;
      const inv = ((a.ctx[1] ?? 0) - (b.ctx[1] ?? 0)) / keys;
      return { tid, name: a.name, cpu, vol, inv };
    })
    .filter((t) => t.cpu > 0.05 || t.vol > 0)
    .sort((x, y) => y.cpu - x.cpu)
    .map(
      (t) => `${t.name}/${t.tid} ${t.cpu.toFixed(1)} µs ${t.vol.toFixed(2)}+${t.inv.toFixed(2)} cs`,
    )
    .join(' | ');
}

/** Starts `file args` and returns a function that stops it with SIGINT and waits. */
async function attach(file: string, args: string[], onStderr?: (text: string) => void) {
  const child: ChildProcess = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (d: Buffer) => onStderr?.(d.toString()));
  await sleep(1000);
  return async (): Promise<void> => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await exited;
  };
}

/**
 * From `perf script` of read/write syscall tracepoints: on the busiest thread, the time from
 * each read that returned more than 8 bytes (8 is an eventfd wake-up) to the next write, by
 * the written fd (one per direction).
 */
function residence(perfData: string): string {
  const text = execFileSync(
    'perf',
    ['script', '--ns', '-i', perfData, '-F', 'tid,time,event,trace'],
    {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const events = text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 4)
    .map((f) => ({ tid: f[0] ?? '', t: Number.parseFloat(f[1] ?? ''), name: f[2] ?? '', f }));
  const perThread = new Map<string, number>();
  for (const e of events) perThread.set(e.tid, (perThread.get(e.tid) ?? 0) + 1);
  const main = [...perThread].sort((a, b) => b[1] - a[1])[0]?.[0];
  const byFd = new Map<string, number[]>();
  let readAt: number | undefined;
  for (const e of events) {
    if (e.tid !== main) continue;
    if (e.name.includes('sys_exit_read')) {
      if (Number.parseInt(e.f[3] ?? '0', 16) > 8) readAt = e.t;
    } else if (e.name.includes('sys_enter_write') && readAt !== undefined) {
      const fd = String(Number.parseInt((e.f[4] ?? '').replace(',', ''), 16));
      const count = e.name.includes('writev') ? -1 : Number.parseInt(e.f[8] ?? '0', 16);
      if (count === 8) continue;
      (byFd.get(fd) ?? byFd.set(fd, []).get(fd))?.push((e.t - readAt) * 1e6);
      readAt = undefined;
    }
  }
  return [...byFd]
    .filter(([, v]) => v.length >= 20)
    .sort((a, b) => b[1].length - a[1].length)
    .map(([fd, v]) => `fd ${fd} (${v.length}): ${quartiles(v)} µs`)
    .join(' | ');
}

await using bench = await startSshBench({
  withStock: env['STOCK'] === '1',
  cpuProfDir: env['CPU_PROF_DIR'],
  baseDir: env['BASE_DIR'],
  nodeArgs: (env['GH_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== ''),
  baseNodeArgs: env['BASE_NODE_ARGS']?.split(' ').filter((a) => a !== ''),
});
const traceDir = mkdtempSync(join(tmpdir(), 'gh-echo-trace-'));
const medians: Record<string, number[]> = {};
try {
  for (let round = 0; round < rounds; round++) {
    for (const id of round % 2 === 0 ? pathIds : [...pathIds].reverse()) {
      const path = bench.paths.get(id);
      if (path === undefined) throw new Error(`no path ${id}`);
      const pid = path.pid?.();
      const proc = pty.spawn(
        'ssh',
        ['-tt', ...bench.sshArgs(path), `stty raw -echo; echo ${READY}; exec cat`],
        { name: 'xterm', cols: 80, rows: 24, cwd: process.cwd(), env: process.env },
      );
      let output = '';
      let waiter: (() => void) | undefined;
      proc.onData((d) => {
        output += d;
        waiter?.();
      });
      const waitFor = (text: string, from: number): Promise<void> =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`${id}: no ${text}: ${output}`)), 20_000);
          waiter = () => {
            if (output.indexOf(text, from) === -1) return;
            clearTimeout(timer);
            waiter = undefined;
            resolve();
          };
          waiter();
        });
      const type = async (key: string): Promise<number> => {
        const from = output.length;
        const started = performance.now();
        proc.write(key);
        await waitFor(key, from);
        const us = (performance.now() - started) * 1000;
        await sleep(gapMs);
        return us;
      };
      try {
        await waitFor(READY, 0);
        for (let i = 0; i < warmKeys; i++) await type('w');
        const stops: (() => Promise<void>)[] = [];
        let straceOut = '';
        const traceFile = join(traceDir, `${id}-${round}.data`);
        if (pid !== undefined) {
          if (env['TRACE'] === '1') {
            const events = ['sys_exit_read', 'sys_enter_write', 'sys_enter_writev'];
            stops.push(
              await attach('perf', [
                'record',
                ...events.flatMap((e) => ['-e', `syscalls:${e}`]),
                '-p',
                String(pid),
                '-o',
                traceFile,
              ]),
            );
          }
          if (env['PERF_DIR'] !== undefined) {
            const out = join(env['PERF_DIR'], `${id}-${round}.data`);
            stops.push(
              await attach('perf', ['record', '-F', '4999', '-g', '-p', String(pid), '-o', out]),
            );
          }
          if (env['STRACE'] === '1') {
            stops.push(
              await attach('strace', ['-f', '-c', '-p', String(pid)], (t) => (straceOut += t)),
            );
          }
        }
        const threadsBefore =
          pid !== undefined && env['THREADS'] === '1' ? threadCounters(pid) : undefined;
        const cpuBefore = pid === undefined ? Number.NaN : cpuTimeUs(pid);
        const latencies: number[] = [];
        for (let i = 0; i < keys; i++)
          latencies.push(await type(LETTERS[i % LETTERS.length] ?? 'a'));
        const cpuPerKey = pid === undefined ? Number.NaN : (cpuTimeUs(pid) - cpuBefore) / keys;
        const threads =
          pid !== undefined && threadsBefore !== undefined
            ? perThread(threadsBefore, threadCounters(pid), keys)
            : '';
        for (const stop of stops) await stop();
        latencies.sort((a, b) => a - b);
        (medians[id] ??= []).push(latencies[Math.floor(latencies.length / 2)] ?? Number.NaN);
        let line = `${id.padEnd(22)} ${quartiles(latencies)} µs`;
        if (pid !== undefined) line += ` | CPU/key ${cpuPerKey.toFixed(0)} µs`;
        if (threads !== '') line += `\n  per key and thread: ${threads}`;
        if (env['TRACE'] === '1' && pid !== undefined)
          line += `\n  residence: ${residence(traceFile)}`;
        if (straceOut !== '') {
          const calls = straceOut
            .split('\n')
            .map((l) => l.trim().split(/\s+/))
            .filter((f) => f.length >= 5 && /^\d+$/.test(f[3] ?? ''))
            .map((f) => `${f[f.length - 1]} ${(Number(f[3]) / keys).toFixed(2)}`);
          line += `\n  syscalls per key: ${calls.join(', ')}`;
        }
        process.stdout.write(`${line}\n`);
      } finally {
        proc.kill('SIGKILL');
      }
    }
  }
} finally {
  rmSync(traceDir, { recursive: true, force: true });
}
for (const [id, values] of Object.entries(medians))
  process.stdout.write(`${id}: p50 per round ${values.map((m) => m.toFixed(0)).join(', ')}\n`);
