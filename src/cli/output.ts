import type { Writable } from 'node:stream';

/** Where a command writes; injected so tests can capture it. */
export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

/** Prints rows as an aligned table, or one JSON object per line with `--json`. */
export function printRows(
  io: CliIo,
  rows: readonly Record<string, unknown>[],
  options: { readonly json: boolean; readonly columns: readonly string[] },
): void {
  if (options.json) {
    for (const row of rows) io.stdout.write(`${JSON.stringify(row)}\n`);
    return;
  }
  const cells = rows.map((row) => options.columns.map((c) => formatCell(row[c])));
  const widths = options.columns.map((c, i) =>
    Math.max(c.length, ...cells.map((r) => r[i]?.length ?? 0)),
  );
  const line = (parts: readonly string[]): string =>
    parts
      .map((p, i) => p.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  io.stdout.write(`${line(options.columns.map((c) => c.toUpperCase()))}\n`);
  for (const row of cells) io.stdout.write(`${line(row)}\n`);
}

/** Formats ms-since-epoch as ISO time, or `-`. */
export function formatTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : new Date(ms).toISOString();
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.map(String).join(',');
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(
        ([k, v]) => `${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`,
      )
      .join(',');
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Reads a secret from stdin: the whole input without its final newline (never from argv). */
export async function readSecretFromStdin(io: CliIo, prompt: string): Promise<string> {
  if (io.stdin.isTTY === true) io.stderr.write(prompt);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of io.stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += buf.length;
    if (total > MAX_STDIN_SECRET_BYTES) throw new RangeError('secret on stdin is too large');
    chunks.push(buf);
    if (io.stdin.isTTY === true && buf.includes(0x0a)) break;
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Reads all of stdin as bytes (for key material), bounded. */
export async function readStdinBytes(io: CliIo): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of io.stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += buf.length;
    if (total > MAX_STDIN_SECRET_BYTES) throw new RangeError('input on stdin is too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

const MAX_STDIN_SECRET_BYTES = 1024 * 1024;
