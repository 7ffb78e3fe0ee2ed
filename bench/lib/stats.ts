/** The value below which `p` percent of `values` fall (nearest rank); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

/** The median (mean of the two middle values for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const upper = sorted[mid] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? Number.NaN) + upper) / 2;
}

/** Smallest and largest value. */
export function spread(values: readonly number[]): { min: number; max: number } {
  return values.length === 0
    ? { min: Number.NaN, max: Number.NaN }
    : { min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Ratios of paired samples (`a[i] / b[i]`, same round of the A B A B alternation), so that a
 * drift of the machine during the run cancels out of each ratio.
 */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.min(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x !== undefined && y !== undefined && y !== 0 && Number.isFinite(x) && Number.isFinite(y))
      out.push(x / y);
  }
  return out;
}

/** Differences of paired samples (`a[i] - b[i]`). */
export function pairedDifferences(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.min(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x !== undefined && y !== undefined) out.push(x - y);
  }
  return out;
}
