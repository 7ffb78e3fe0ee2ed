import WebSocket from 'ws';

/** What `process.memoryUsage()` says inside the inspected process, in bytes. */
export interface ProcessMemory {
  readonly rss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

/** A DevTools-protocol connection to a process started with `--inspect`. */
export interface Inspector {
  /** Runs a full garbage collection in the process (HeapProfiler.collectGarbage). */
  collectGarbage(): Promise<void>;
  /** The process's own memory figures. */
  memoryUsage(): Promise<ProcessMemory>;
  close(): void;
}

const URL_RE = /Debugger listening on (ws:\/\/[^\s]+)/;
const CALL_TIMEOUT_MS = 60_000;

/** Connects to the inspector whose `ws://` address the process printed (found in `output()`). */
export async function connectInspector(output: () => string): Promise<Inspector> {
  const url = URL_RE.exec(output())?.[1];
  if (url === undefined) throw new Error('the process printed no inspector address (--inspect)');
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  let nextId = 1;
  const waiting = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  socket.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString('utf8')) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    };
    if (message.id === undefined) return;
    const call = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error !== undefined) call?.reject(new Error(message.error.message));
    else call?.resolve(message.result);
  });
  const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`inspector ${method} timed out`));
      }, CALL_TIMEOUT_MS);
      waiting.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      socket.send(JSON.stringify({ id, method, params }));
    });
  return {
    collectGarbage: async () => {
      await call('HeapProfiler.collectGarbage');
    },
    memoryUsage: async () => {
      const result = (await call('Runtime.evaluate', {
        expression: 'JSON.stringify(process.memoryUsage())',
        returnByValue: true,
      })) as { result: { value: string } };
      return JSON.parse(result.result.value) as ProcessMemory;
    },
    close: () => socket.close(),
  };
}
