import pty from 'node-pty';
import type { BenchSizes } from '../lib/options.js';
import { cpuTimeUs, sleep } from '../lib/processes.js';
import { median } from '../lib/stats.js';
import { alternate, type Workload } from '../lib/results.js';
import { pathOf } from './commands.js';
import type { SshBench } from './world.js';

/** Pause between keystrokes: a fast typist, and time for delayed ACKs to settle. */
const KEY_GAP_MS = 10;
const READY = 'GH-BENCH-READY';
const KEYS = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Interactive echo through a pty: the real `ssh -tt` in node-pty, the target running `cat` with
 * its terminal in raw mode (each key goes up and comes straight back, as with a shell's line
 * editor). A round is one session; its value is the median of `echoKeys` keystrokes.
 */
export async function measureEcho(
  bench: SshBench,
  sizes: BenchSizes,
  pathIds: readonly string[],
): Promise<Workload[]> {
  const observations: Record<string, number[]> = Object.fromEntries(pathIds.map((id) => [id, []]));
  // CPU of the process in the middle per keystroke (all its threads, from the first key to the
  // last echo): what the relay's path costs, much less swayed by other load than the latency.
  const cpu: Record<string, number[]> = {};
  const samples = await alternate(
    pathIds,
    sizes.echoRounds,
    async (id) => {
      const pid = pathOf(bench, id).pid?.();
      const session = await echoSession(bench, id, sizes.echoKeys, pid);
      observations[id]?.push(...session.latencies);
      if (pid !== undefined) (cpu[id] ??= []).push(session.cpuUs / sizes.echoKeys);
      return median(session.latencies);
    },
    'ssh.echo',
  );
  const title = 'SSH interactive echo (pty, raw cat)';
  return [
    {
      id: 'ssh.echo',
      title,
      unit: 'µs',
      better: 'lower',
      compare: 'difference',
      samples,
      observations,
    },
    {
      id: 'ssh.echo-cpu',
      title: `${title}: CPU of the middle process per key`,
      unit: 'µs',
      better: 'lower',
      compare: 'ratio',
      samples: cpu,
    },
  ];
}

async function echoSession(
  bench: SshBench,
  id: string,
  keys: number,
  pid: number | undefined,
): Promise<{ latencies: number[]; cpuUs: number }> {
  const args = [
    '-tt',
    ...bench.sshArgs(pathOf(bench, id)),
    `stty raw -echo; echo ${READY}; exec cat`,
  ];
  const proc = pty.spawn('ssh', args, {
    name: 'xterm',
    cols: 80,
    rows: 24,
    cwd: process.cwd(),
    env: process.env,
  });
  let output = '';
  let waiter: (() => void) | undefined;
  proc.onData((data) => {
    output += data;
    waiter?.();
  });
  let hasExited = false;
  proc.onExit(() => {
    hasExited = true;
    waiter?.();
  });
  const waitFor = (text: string, from: number, timeoutMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          finish(
            new Error(
              `${id}: no "${text}" within ${timeoutMs} ms; output: ${JSON.stringify(output.slice(-300))}`,
            ),
          ),
        timeoutMs,
      );
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        waiter = undefined;
        if (err === undefined) resolve();
        else reject(err);
      };
      waiter = () => {
        if (output.indexOf(text, from) !== -1) finish();
        else if (hasExited)
          finish(new Error(`${id}: ssh exited; output: ${JSON.stringify(output.slice(-300))}`));
      };
      waiter();
    });
  try {
    await waitFor(READY, 0, 20_000);
    await sleep(50);
    const latencies: number[] = [];
    const cpuBefore = pid === undefined ? Number.NaN : cpuTimeUs(pid);
    for (let i = 0; i < keys; i++) {
      const key = KEYS[i % KEYS.length] ?? 'a';
      const from = output.length;
      const started = performance.now();
      proc.write(key);
      await waitFor(key, from, 5_000);
      latencies.push((performance.now() - started) * 1000);
      await sleep(KEY_GAP_MS);
    }
    return { latencies, cpuUs: pid === undefined ? Number.NaN : cpuTimeUs(pid) - cpuBefore };
  } finally {
    if (!hasExited) proc.kill('SIGKILL');
  }
}
