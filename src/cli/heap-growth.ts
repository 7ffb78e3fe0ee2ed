import { setFlagsFromString } from 'node:v8';

/**
 * How far V8's old generation may grow past the live size after a full collection before the
 * next one starts, in percent: 300 is 4×, the ceiling V8 itself uses on a heap like ours.
 */
export const SERVE_HEAP_GROWING_PERCENT = 300;

/** The V8 flag, in either spelling V8 accepts. */
const GROWING_FLAG = /^--heap[-_]growing[-_]percent(=|$)/;

/**
 * Fixes the old generation's growth for `gatehouse serve` (docs/performance.md, "SSH downloads:
 * the slow mode was a storm of full collections").
 *
 * V8 picks the growth after each full collection from how fast that collection ran against the
 * program, between 1.1× and 4×. Every ArrayBuffer allocated since the last full collection
 * counts against the same limit as the heap, and a relay allocates one for each socket read and
 * each packet: a download turns over tens of MiB of them between two young collections. When
 * V8 had picked a low growth (after start-up's collections, more often than not), that turnover
 * alone reached the limit, and a download kept the process in back-to-back full collections,
 * ten a second, each recomputing the same low growth: three times the CPU per MiB and 0.75 of
 * the bare relay's throughput. 2× still let them through; 3× and 4× did not.
 *
 * V8 reads the flag whenever it sets a new limit, so setting it at start-up is enough. An
 * operator's own `node --heap-growing-percent=N` is kept. Returns the percent in effect, or
 * undefined when it is the operator's.
 */
export function fixHeapGrowth(
  options: {
    readonly execArgv?: readonly string[];
    readonly setFlags?: (flags: string) => void;
  } = {},
): number | undefined {
  const execArgv = options.execArgv ?? process.execArgv;
  if (execArgv.some((arg) => GROWING_FLAG.test(arg))) return undefined;
  (options.setFlags ?? setFlagsFromString)(`--heap-growing-percent=${SERVE_HEAP_GROWING_PERCENT}`);
  return SERVE_HEAP_GROWING_PERCENT;
}
