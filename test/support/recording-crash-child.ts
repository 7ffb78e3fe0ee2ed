import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AsciicastWriter } from '../../src/recording/index.js';

/** What the child process records before it is killed. */
export interface CrashChildSpec {
  readonly dir: string;
  readonly sid: string;
  /** After this many output events the child prints `mark N`. */
  readonly markAfter: number;
  readonly eventEveryMs: number;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD_MODULE = fileURLToPath(import.meta.url);

/**
 * Child side: records output events forever (never closes the writer), printing `mark N`
 * once N events were handed to the writer, so the parent knows what must be on disk a
 * second later.
 */
export async function runRecordingCrashChild(spec: CrashChildSpec): Promise<void> {
  const writer = await AsciicastWriter.create(spec.dir, {
    sid: spec.sid,
    channel: 0,
    user: 'alice',
    target: 'db1',
    term: { cols: 80, rows: 24, type: 'xterm-256color' },
  });
  for (let i = 0; ; i += 1) {
    writer.output(Buffer.from(`line ${i} \u00e9\u20ac\r\n`, 'utf8'));
    if (i + 1 === spec.markAfter) process.stdout.write(`mark ${spec.markAfter}\n`);
    await new Promise((resolve) => setTimeout(resolve, spec.eventEveryMs));
  }
}

/** A spawned recording child; `marked` resolves once it printed its mark. */
export interface CrashChild {
  readonly process: ChildProcess;
  readonly marked: Promise<void>;
  readonly exited: Promise<NodeJS.Signals | null>;
}

/** Parent side: runs {@link runRecordingCrashChild} in a separate Node process (TS via Vite). */
export function spawnRecordingCrashChild(spec: CrashChildSpec): CrashChild {
  const script = [
    "import { runnerImport } from 'vite';",
    `const { module } = await runnerImport(${JSON.stringify(CHILD_MODULE)}, { configFile: false, logLevel: 'silent' });`,
    'await module.runRecordingCrashChild(JSON.parse(process.env.GH_REC_CHILD));',
  ].join('\n');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    env: { ...process.env, GH_REC_CHILD: JSON.stringify(spec) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, signal) => resolve(signal)),
  );
  const marked = new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      if (out.includes(`mark ${spec.markAfter}`)) resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`recording child exited (${code}) before its mark: ${stderr}`)),
    );
  });
  marked.catch(() => undefined);
  return { process: child, marked, exited };
}
