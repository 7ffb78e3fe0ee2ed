import { BEST_EFFORT_EVENTS } from './audit-check.js';
import type { SoakResult } from './soak.js';

/** A Markdown summary of a soak run: sessions, operations, audit counts, memory, verdict. */
export function summarizeSoak(result: SoakResult): string {
  const o = result.options;
  const lines: string[] = [];
  lines.push(
    `## Gatehouse soak (${o.ssh} SSH + ${o.db} database sessions, ${o.durationS} s, ${result.startedAt})`,
    '',
    `Load average before ${fmtLoad(result.loadAverage.before)}, after ${fmtLoad(result.loadAverage.after)}.`,
    `Ramp-up ${result.phases.rampS} s (${Object.entries(result.openRates)
      .map(([g, r]) => `${g} ${r}/s`)
      .join(', ')}), full load ${result.phases.loadS} s, closing ${result.phases.closeS} s.`,
    `Gatehouse CPU: ${result.gatehouseCpu.rampS} s while opening (${result.gatehouseCpu.perOpenMs} ms per session), ${result.gatehouseCpu.loadS} s under load (${result.gatehouseCpu.perOperationMs} ms per operation).`,
    '',
    '| sessions | planned | opened |',
    '| --- | ---: | ---: |',
    ...Object.entries(result.sessions).map(([g, s]) => `| ${g} | ${s.planned} | ${s.opened} |`),
    '',
    '| operation | attempted | succeeded | failed | mean ms | max ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...Object.entries(result.operations).map(
      ([op, c]) =>
        `| ${op} | ${c.attempted} | ${c.succeeded} | ${c.failed} | ${c.succeeded === 0 ? '-' : (c.totalMs / c.succeeded).toFixed(1)} | ${c.maxMs.toFixed(0)} |`,
    ),
    `| **total** | ${result.totals.attempted} | ${result.totals.succeeded} | ${result.totals.failed} | | |`,
    '',
    '| audit event | expected | found |',
    '| --- | ---: | ---: |',
    ...Object.entries(result.audit.byType).map(
      ([t, c]) =>
        `| ${t}${BEST_EFFORT_EVENTS.has(t) ? ' (best effort)' : ''} | ${c.expected} | ${c.found} |`,
    ),
    '',
    `Audit verify: ${result.verify.ok ? 'OK' : 'FAILED'} (${result.audit.lastSeq - result.audit.afterSeq} events of the load, chain length ${result.audit.lastSeq}).`,
    `Rows committed / found upstream: ${Object.entries(result.data)
      .map(
        ([db, d]) =>
          `${db} ${d.expected.rows}/${d.found.rows} (updates ${d.expected.touched}/${d.found.touched}${d.expected.unsure === undefined ? '' : `; failed clients may have committed up to ${d.expected.unsure.rows} rows`})`,
      )
      .join(', ')}.`,
    '',
    `Memory (RSS; heap used after a forced GC): start ${fmtMem(result.memory.start)}, warm ${fmtMem(result.memory.warm)}, all open ${result.memory.openRssMiB} MiB, peak RSS ${result.memory.peakRssMiB} MiB, end ${fmtMem(result.memory.end)}; ${Math.round(result.memory.rssReleasedShare * 100)}% of the load's RSS growth given back.`,
    '',
  );
  if (result.failures.length > 0) {
    lines.push(
      'First failures:',
      '',
      ...result.failures.slice(0, 20).map((f) => `- ${f.operation}: ${f.message}`),
      '',
    );
  }
  lines.push(
    result.problems.length === 0
      ? '**PASS**'
      : `**FAIL**\n\n${result.problems.map((p) => `- ${p}`).join('\n')}`,
    '',
  );
  return `${lines.join('\n')}\n`;
}

function fmtLoad(load: readonly number[]): string {
  return load.map((l) => l.toFixed(1)).join('/');
}

function fmtMem(m: { rssMiB: number; heapUsedMiB: number }): string {
  return `${m.rssMiB} MiB (heap ${m.heapUsedMiB})`;
}
