import type { Command } from 'commander';
import { formatAuditRecord, tailAudit, verifyAuditChain } from '../../audit/index.js';
import { createPublicKey } from 'node:crypto';
import { readPrivateKeyFile } from '../../crypto/key-files.js';
import { GatehouseError } from '../../core/errors.js';
import { withControlPlane } from '../context.js';
import type { CliIo } from '../output.js';

/** `gatehouse audit verify|tail`. */
export function registerAuditCommands(program: Command, io: CliIo): void {
  const audit = program.command('audit').description('the tamper-evident audit chain');

  audit
    .command('verify')
    .description('recompute the hash chain, check checkpoint signatures and the external sink')
    .option('--json', 'print the report as JSON', false)
    .action(async (o: { json: boolean }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const publicKey = createPublicKey(readPrivateKeyFile(cp.config.controlPlane.signingKey));
        const report = await verifyAuditChain({
          db: cp.store.db,
          publicKey,
          sinkPath: cp.config.audit.sinkFile,
        });
        if (o.json) io.stdout.write(`${JSON.stringify(report)}\n`);
        else if (report.ok) {
          io.stdout.write(
            `audit chain OK: ${report.eventCount} events, last #${report.lastSeq}, ${report.checkpointCount} checkpoints\n`,
          );
        } else {
          io.stdout.write(`audit chain BROKEN: ${report.problems.length} problem(s)\n`);
          for (const p of report.problems)
            io.stdout.write(
              `  ${p.seq === undefined ? '' : `#${p.seq} `}${p.kind}: ${p.message}\n`,
            );
        }
        if (!report.ok) {
          const first = report.problems[0];
          throw new GatehouseError('GH_AUDIT_CHAIN_BROKEN', {
            message: `the audit chain does not verify${first?.seq === undefined ? '' : ` from event #${first.seq}`}`,
          });
        }
      });
    });

  audit
    .command('tail')
    .description('print the latest audit events')
    .option('-n, --lines <n>', 'how many events', (v) => Number.parseInt(v, 10), 20)
    .option('--json', 'one JSON object per line', false)
    .action(async (o: { lines: number; json: boolean }, cmd: Command) => {
      await withControlPlane(cmd, io, async (cp) => {
        const records = await tailAudit(cp.store.db, { limit: o.lines });
        for (const r of records)
          io.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${formatAuditRecord(r)}\n`);
      });
    });
}
