import { median, pairedDifferences, pairedRatios, percentile, spread } from './stats.js';
import { PATH_LABELS, type SkippedWorkload, type Workload } from './results.js';

/** Summary of one path of one workload, as written to latest.json. */
export interface PathSummary {
  readonly samples: readonly number[];
  readonly median: number;
  readonly p95: number;
  readonly min: number;
  readonly max: number;
  /** Paired with direct, round by round: median and range of the ratios (or differences). */
  readonly vsDirect?: { readonly median: number; readonly min: number; readonly max: number };
  /** Paired with the bare relay. */
  readonly vsBareRelay?: { readonly median: number; readonly min: number; readonly max: number };
}

/** A workload with its per-path summaries. */
export interface WorkloadSummary extends Omit<Workload, 'samples' | 'observations'> {
  readonly paths: Record<string, PathSummary>;
}

/** Computes medians, p95, spreads and the paired comparisons of every path. */
export function summarize(workload: Workload): WorkloadSummary {
  const { samples, observations, ...rest } = workload;
  const compare = workload.compare === 'ratio' ? pairedRatios : pairedDifferences;
  const paths: Record<string, PathSummary> = {};
  for (const [path, values] of Object.entries(samples)) {
    const all = observations?.[path] ?? values;
    const range = spread(values);
    const against = (reference: string): PathSummary['vsDirect'] => {
      const base = samples[reference];
      if (path === reference || base === undefined) return undefined;
      const paired = compare(values, base);
      if (paired.length === 0) return undefined;
      return { median: median(paired), ...spread(paired) };
    };
    const vsDirect = against('direct');
    const vsBareRelay = against('bare-relay');
    paths[path] = {
      samples: values,
      median: median(all),
      p95: percentile(all, 95),
      min: range.min,
      max: range.max,
      ...(vsDirect === undefined ? {} : { vsDirect }),
      ...(vsBareRelay === undefined ? {} : { vsBareRelay }),
    };
  }
  return { ...rest, paths };
}

/** The Markdown table of every workload, one row per path. */
export function markdownTable(
  summaries: readonly WorkloadSummary[],
  skipped: readonly SkippedWorkload[],
): string {
  const lines = [
    '| workload | path | median | p95 | spread (min–max of rounds) | n | vs direct (paired) | vs bare relay (paired) |',
    '| --- | --- | ---: | ---: | --- | ---: | --- | --- |',
  ];
  for (const w of summaries) {
    for (const [path, s] of Object.entries(w.paths)) {
      const showP95 = s.samples.length >= 5 || w.compare === 'difference';
      lines.push(
        [
          '',
          `${w.title}${w.better === 'higher' ? ' ↑' : ' ↓'}`,
          PATH_LABELS[path] ?? path,
          `${num(s.median)} ${w.unit}`,
          showP95 ? `${num(s.p95)}` : '',
          `${num(s.min)}–${num(s.max)}`,
          String(s.samples.length),
          comparison(w.compare, w.unit, s.vsDirect),
          comparison(w.compare, w.unit, s.vsBareRelay),
          '',
        ]
          .join(' | ')
          .trim(),
      );
    }
  }
  const out = [lines.join('\n')];
  const notes = summaries
    .filter((w) => w.note !== undefined)
    .map((w) => `- ${w.title}: ${w.note ?? ''}`);
  if (notes.length > 0) out.push(notes.join('\n'));
  if (skipped.length > 0) out.push(skipped.map((s) => `- skipped ${s.id}: ${s.reason}`).join('\n'));
  return `${out.join('\n\n')}\n`;
}

function comparison(kind: Workload['compare'], unit: string, c: PathSummary['vsDirect']): string {
  if (c === undefined) return '';
  if (kind === 'ratio') return `${c.median.toFixed(2)}× (${c.min.toFixed(2)}–${c.max.toFixed(2)})`;
  const sign = (v: number): string => (v >= 0 ? `+${num(v)}` : num(v));
  return `${sign(c.median)} ${unit} (${sign(c.min)}…${sign(c.max)})`;
}

/** Three significant digits, without exponent notation for ordinary magnitudes. */
function num(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toString();
  return Number(value.toPrecision(3)).toString();
}
