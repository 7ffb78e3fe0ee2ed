import { GatehouseError } from '../../core/errors.js';
import type { QueryAuditor } from '../query-audit.js';
import { errorResponseFor } from './pg-errors.js';
import { checkReadOnly } from './read-only.js';

/** What a refusal on a read-only target is about. */
export interface ReadOnlyRefusalOptions {
  readonly auditor: QueryAuditor;
  readonly targetName: string;
}

/**
 * The ErrorResponse refusing `sql` on a read-only target (the denial audited), or undefined
 * when it may run. SQL cut short by the relay is refused: what was not seen cannot be checked.
 */
export function refuseUnlessReadOnly(
  statement: {
    readonly mode: 'simple' | 'extended';
    readonly sql: string | undefined;
    readonly isCut: boolean;
  },
  o: ReadOnlyRefusalOptions,
): Buffer | undefined {
  const { mode, sql, isCut } = statement;
  const verdict =
    isCut || sql === undefined
      ? { isAllowed: false as const, what: 'statement', why: 'too long to check' }
      : checkReadOnly(sql);
  if (verdict.isAllowed) return undefined;
  o.auditor.recordDenied({ mode, sql, isSqlCut: isCut, reason: 'read-only', what: verdict.what });
  return readOnlyError(o.targetName, `${verdict.what}: ${verdict.why}`);
}

/** The ErrorResponse refusing a FunctionCall on a read-only target (the denial audited). */
export function refuseFunctionCall(o: ReadOnlyRefusalOptions): Buffer {
  o.auditor.recordDenied({
    mode: 'function',
    sql: undefined,
    reason: 'read-only',
    what: 'function call',
  });
  return readOnlyError(o.targetName, 'function calls over the protocol are refused');
}

function readOnlyError(targetName: string, detail: string): Buffer {
  return errorResponseFor(
    new GatehouseError('GH_READ_ONLY_TARGET', { message: `target "${targetName}" is read-only` }),
    { severity: 'ERROR', detail },
  );
}
