import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// Keeps the benchmark harness (bench/, `npm run bench`) from rotting: a smoke run goes through
// every workload end to end. It asserts no time: benchmarks are measured on demand, not in CI.
// It runs `bench:run` (the harness without the build step): `npm test` has just built dist/,
// and rebuilding it here would rewrite files that other test files are running.

interface SmokeResult {
  readonly mode: string;
  readonly workloads: {
    readonly id: string;
    readonly paths: Record<string, { readonly samples: readonly number[] }>;
  }[];
  readonly skipped: { readonly id: string; readonly reason: string }[];
}

const SSH_WORKLOADS = [
  'ssh.upload',
  'ssh.download',
  'ssh.upload-cpu',
  'ssh.download-cpu',
  'ssh.pty-download',
  'ssh.pty-download-cpu',
  'ssh.connect',
  'ssh.echo',
  'ssh.echo-cpu',
  'ssh.small-commands',
  'ssh.small-copies',
  'ssh.idle-memory-2',
  'ssh.open-rate-2',
];

describe('benchmark harness', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-smoke-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a-smoke-run-measures-every-workload-and-writes-the-table-and-json', async () => {
    const out = join(dir, 'smoke.json');
    const run = await runNpm([
      'run',
      '--silent',
      'bench:run',
      '--',
      '--quick',
      '--smoke',
      '--out',
      out,
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('| workload | path | median |');

    const result = JSON.parse(readFileSync(out, 'utf8')) as SmokeResult;
    expect(result.mode).toBe('smoke');
    const ids = result.workloads.map((w) => w.id);
    expect(ids).toEqual(expect.arrayContaining(SSH_WORKLOADS));
    // Database workloads need bench/setup.sh (sysbench, pgbouncer); without it they say so.
    for (const prefix of ['pg.', 'my.']) {
      const isRun = ids.some((id) => id.startsWith(prefix));
      const isSkipped = result.skipped.some((s) => s.id === prefix);
      expect(isRun || isSkipped, `${prefix} neither ran nor was skipped`).toBe(true);
    }
    for (const workload of result.workloads) {
      for (const [path, summary] of Object.entries(workload.paths)) {
        expect(summary.samples.length, `${workload.id} ${path}`).toBeGreaterThan(0);
        for (const value of summary.samples)
          expect(Number.isFinite(value), `${workload.id} ${path}`).toBe(true);
      }
    }
  }, 400_000); // seconds per workload, but dozens of workloads and logins: slow beside other test files
});

function runNpm(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', [...args], {
      cwd: join(import.meta.dirname, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
