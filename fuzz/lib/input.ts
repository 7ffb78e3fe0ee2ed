import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Who sent a segment: the client (untrusted side the gateway reads) or the server/target. */
export type Direction = 'c' | 's';

/** One chunk as a socket delivered it (or one whole file for the non-streaming targets). */
export interface Segment {
  readonly dir: Direction;
  readonly data: Buffer;
}

/** One fuzz input: chunks in the order they arrived, and a target-defined variant bit field. */
export interface FuzzInput {
  readonly segments: readonly Segment[];
  /** Target-defined switches (e.g. PostgreSQL: bit 0 = read-only target). */
  readonly variant: number;
}

/** The JSON form of an input in fuzz/corpus, fuzz/regressions and fuzz/crashes. */
interface InputFile {
  readonly target?: string;
  readonly note?: string;
  readonly variant?: number;
  readonly segments: readonly { readonly dir: Direction; readonly base64: string }[];
  readonly [extra: string]: unknown;
}

/** Parses an input file's JSON. */
export function inputFromJson(text: string): FuzzInput {
  const file = JSON.parse(text) as InputFile;
  return {
    variant: file.variant ?? 0,
    segments: file.segments.map((s) => ({ dir: s.dir, data: Buffer.from(s.base64, 'base64') })),
  };
}

/** Serializes an input (with extra fields such as the seed and the error) as JSON. */
export function inputToJson(input: FuzzInput, extra: Record<string, unknown> = {}): string {
  const file: InputFile = {
    ...extra,
    variant: input.variant,
    segments: input.segments.map((s) => ({ dir: s.dir, base64: s.data.toString('base64') })),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Reads every `*.json` input in `dir` (sorted by name); none when the folder is missing. */
export function readInputs(dir: string): { name: string; input: FuzzInput }[] {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .sort();
  } catch {
    return [];
  }
  return names.map((name) => ({
    name,
    input: inputFromJson(readFileSync(join(dir, name), 'utf8')),
  }));
}

/** Writes an input file, creating its folder. */
export function writeInput(
  path: string,
  input: FuzzInput,
  extra: Record<string, unknown> = {},
): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, inputToJson(input, extra));
}

/** Total bytes of an input. */
export function inputBytes(input: FuzzInput): number {
  let n = 0;
  for (const s of input.segments) n += s.data.length;
  return n;
}
