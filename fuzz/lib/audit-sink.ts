import type { AuditEventInput } from '../../src/audit/types.js';
import { QueryAuditor } from '../../src/db/query-audit.js';
import type { SqlDialect } from '../../src/db/redact.js';
import { FuzzFinding } from './oracle.js';
import { createLogger, type Logger } from '../../src/log/index.js';

/**
 * A real QueryAuditor whose batches are checked instead of stored: every event must
 * serialize as the audit store serializes it (JSON), so a parser cannot put a BigInt, a
 * cycle or a lone surrogate's worth of garbage in the chain.
 */
export function checkingAuditor(
  dialect: SqlDialect,
  fingerprint?: (sql: string) => string | null,
): { auditor: QueryAuditor; problems: FuzzFinding[] } {
  const problems: FuzzFinding[] = [];
  const auditor = new QueryAuditor({
    auditBatch: (events: readonly AuditEventInput[]) => {
      try {
        JSON.stringify(events);
      } catch (err) {
        problems.push(
          new FuzzFinding('bad-output', `audit event does not serialize: ${String(err)}`, {
            cause: err,
          }),
        );
      }
      return Promise.resolve();
    },
    sid: 'ses_fuzz',
    user: 'alice',
    target: 'fuzz-db',
    clientAddr: '127.0.0.1',
    protocol: dialect === 'postgres' ? 'postgres' : 'mysql',
    dialect,
    ...(fingerprint === undefined ? {} : { fingerprint }),
    onFailure: (err) =>
      problems.push(
        new FuzzFinding('internal-error', `audit failure: ${err.message}`, { cause: err }),
      ),
    batchIntervalMs: 0,
  });
  return { auditor, problems };
}

/** A logger that keeps error-level lines (a relay logs its internal faults there). */
export function recordingLogger(): { log: Logger; errors: string[] } {
  const errors: string[] = [];
  const log = createLogger({
    level: 'error',
    destination: {
      write: (line: string) => {
        errors.push(line);
      },
    },
  });
  return { log, errors };
}
