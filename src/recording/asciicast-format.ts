/**
 * asciicast v3 wire facts (docs.asciinema.org/manual/asciicast/v3/): newline-delimited JSON,
 * a header object on line 1, then one `[interval, code, data]` array per line, `interval`
 * in seconds since the PREVIOUS event. Lines starting with `#` are comments.
 */

/** The only format version this module writes and reads. */
export const ASCIICAST_VERSION = 3;

/** Event codes of asciicast v3 §Supported event codes; others must be passed through. */
export const EVENT_CODES = {
  output: 'o',
  input: 'i',
  marker: 'm',
  resize: 'r',
  exit: 'x',
} as const;

/** Terminal information of the header (`term`). */
export interface TermInfo {
  readonly cols: number;
  readonly rows: number;
  /** Terminal type such as `xterm-256color`. */
  readonly type?: string;
}

/** The Gatehouse-specific header key (DESIGN §6); players ignore unknown keys. */
export interface GatehouseCastInfo {
  readonly sid: string;
  readonly user: string;
  readonly target: string;
  /** SSH channel number within the session. */
  readonly channel?: number;
}

/** An asciicast v3 header as Gatehouse writes and reads it. */
export interface AsciicastHeader {
  readonly version: typeof ASCIICAST_VERSION;
  readonly term: TermInfo;
  /** Unix time of the start, whole seconds (the spec makes it an integer). */
  readonly timestamp?: number;
  readonly title?: string;
  readonly gatehouse?: GatehouseCastInfo;
}

/** Encodes the header line, newline included, with keys in the spec's order. */
export function encodeHeaderLine(header: AsciicastHeader): string {
  const term: Record<string, unknown> = { cols: header.term.cols, rows: header.term.rows };
  if (header.term.type !== undefined) term['type'] = header.term.type;
  const line: Record<string, unknown> = { version: header.version, term };
  if (header.timestamp !== undefined) line['timestamp'] = header.timestamp;
  if (header.title !== undefined) line['title'] = header.title;
  if (header.gatehouse !== undefined) line['gatehouse'] = header.gatehouse;
  return `${JSON.stringify(line)}\n`;
}

/**
 * Encodes one event line, newline included. `intervalMs` is a whole number of milliseconds:
 * the spec's recommended precision; the writer rounds absolute times, so rounding errors do
 * not accumulate (the spec's advice on drift).
 */
export function encodeEventLine(intervalMs: number, code: string, data: string): string {
  return `[${(intervalMs / 1000).toFixed(3)}, ${JSON.stringify(code)}, ${encodeJsonString(data)}]\n`;
}

// JSON.stringify escapes C0 controls but leaves DEL and C1 controls raw; v3 §o asks for
// non-printable code points as \uXXXX. Lone surrogates are already escaped (well-formed
// JSON.stringify), so every line stays valid UTF-8.
function encodeJsonString(text: string): string {
  return JSON.stringify(text).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Formats resize data as the spec's `COLSxROWS`. */
export function formatResize(cols: number, rows: number): string {
  return `${cols}x${rows}`;
}

/** True for a positive whole terminal dimension. */
export function isTermSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value <= 0xffff;
}
