import { createReadStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { canonicalJson } from '../core/canonical-json.js';
import type { AuditCheckpoint } from './types.js';

/**
 * Appends one checkpoint as a JSON line to the external sink and fsyncs it. The file is
 * opened in append mode for each line, so several processes can share it: each line is a
 * single small write at the end of the file.
 */
export async function appendSinkLine(path: string, checkpoint: AuditCheckpoint): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const file = await open(path, 'a', 0o600);
  try {
    await file.appendFile(`${canonicalJson(checkpoint)}\n`, 'utf8');
    await file.sync();
  } finally {
    await file.close();
  }
}

/** One line of the sink: a checkpoint, or why it is not one. */
export type SinkLine =
  | { readonly lineNo: number; readonly checkpoint: AuditCheckpoint }
  | { readonly lineNo: number; readonly fault: 'malformed' | 'cut-off'; readonly text: string };

/**
 * Reads the sink line by line without loading it whole. Throws the `fs` error (ENOENT when
 * the sink does not exist) before the first line. A last line without its newline is
 * reported as `cut-off`: appends write whole lines, so it means a crash or a truncation.
 */
export async function* readSink(path: string): AsyncGenerator<SinkLine> {
  let lineNo = 0;
  let pending = '';
  for await (const chunk of createReadStream(path, { encoding: 'utf8' })) {
    const lines = (pending + String(chunk)).split('\n');
    pending = lines.pop() ?? '';
    for (const text of lines) {
      lineNo += 1;
      if (text.trim() !== '') yield parseSinkLine(lineNo, text);
    }
  }
  if (pending.trim() !== '') yield { lineNo: lineNo + 1, fault: 'cut-off', text: pending };
}

function parseSinkLine(lineNo: number, text: string): SinkLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { lineNo, fault: 'malformed', text };
  }
  return isCheckpoint(value) ? { lineNo, checkpoint: value } : { lineNo, fault: 'malformed', text };
}

function isCheckpoint(value: unknown): value is AuditCheckpoint {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return (
    Number.isSafeInteger(v['seq']) &&
    typeof v['seq'] === 'number' &&
    v['seq'] > 0 &&
    typeof v['hash'] === 'string' &&
    typeof v['time'] === 'number' &&
    typeof v['keyId'] === 'string' &&
    typeof v['signature'] === 'string'
  );
}
