import pty from 'node-pty';

/** A program running in a pseudo-terminal (node-pty), e.g. interactive psql for Ctrl-C. */
export interface PtyProcess {
  output(): string;
  write(data: string): void;
  /** Resolves once `pattern` appears after offset `from`; rejects after `timeoutMs`. */
  waitFor(pattern: string | RegExp, options?: { from?: number; timeoutMs?: number }): Promise<void>;
  readonly exited: Promise<number>;
  kill(): void;
}

/** Spawns `file ARGS` in an 80x24 pseudo-terminal with `env` added. */
export function spawnPty(
  file: string,
  args: readonly string[],
  env: Record<string, string>,
): PtyProcess {
  const proc = pty.spawn(file, [...args], {
    name: 'xterm',
    cols: 120,
    rows: 40,
    cwd: process.cwd(),
    env: { ...(process.env as Record<string, string>), ...env },
  });
  let text = '';
  let hasExited = false;
  proc.onData((d) => (text += d));
  const exited = new Promise<number>((resolve) =>
    proc.onExit(({ exitCode }) => {
      hasExited = true;
      resolve(exitCode);
    }),
  );
  return {
    output: () => text,
    write: (data) => proc.write(data),
    waitFor: async (pattern, o = {}) => {
      const deadline = Date.now() + (o.timeoutMs ?? 15_000);
      for (;;) {
        const seen = text.slice(o.from ?? 0);
        if (typeof pattern === 'string' ? seen.includes(pattern) : pattern.test(seen)) return;
        if (hasExited) throw new Error(`exited before ${String(pattern)}:\n${text}`);
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${String(pattern)}:\n${text}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    exited,
    kill: () => {
      if (!hasExited) proc.kill('SIGKILL');
    },
  };
}
