import { BoundedMap } from './bounded-map.js';
import { parseBind, parseTargeted } from './protocol/index.js';
import { safe, type TrackedMessage } from './tracked-message.js';

/** Prepared statements remembered per session (their SQL, for the audit of each Execute). */
const MAX_STATEMENTS = 10_000;
const MAX_STATEMENT_BYTES = 16 * 1024 * 1024;
/** Portals remembered per session (SQL and parameters until Execute). */
const MAX_PORTALS = 1_000;
const MAX_PORTAL_BYTES = 8 * 1024 * 1024;
/** Bytes of a binary parameter shown (as hex). */
const BINARY_PARAM_SHOWN_BYTES = 512;

/** A prepared statement's SQL, as far as it was kept. */
export interface StatementInfo {
  readonly sql: string | undefined;
  readonly isSqlCut: boolean;
}

/** A bound portal: its statement's SQL and its parameters as audit shows them. */
export interface PortalInfo extends StatementInfo {
  readonly statement: string;
  readonly params: readonly (string | null)[];
  readonly isParamsCut: boolean;
}

/** The portal of a Bind whose kept body could not be read: no SQL, no parameters. */
const UNKNOWN_PORTAL: PortalInfo = {
  sql: undefined,
  isSqlCut: false,
  statement: '',
  params: [],
  isParamsCut: false,
};

/**
 * The session's named statements and portals as the client defines them (Parse, Bind, Close),
 * so that an Execute is audited with its SQL and parameters. Bounded: a client that never
 * closes them makes the oldest be forgotten, not memory grow.
 */
export class PreparedStatements {
  readonly #statements = new BoundedMap<string, StatementInfo>({
    maxEntries: MAX_STATEMENTS,
    maxBytes: MAX_STATEMENT_BYTES,
    sizeOf: (s) => (s.sql?.length ?? 0) + 64,
  });
  readonly #portals = new BoundedMap<string, PortalInfo>({
    maxEntries: MAX_PORTALS,
    maxBytes: MAX_PORTAL_BYTES,
    sizeOf: portalSize,
  });

  /** A Parse: remembers statement `name`'s SQL. */
  parse(name: string, info: StatementInfo): void {
    this.#statements.set(name, info);
  }

  /** A Bind: remembers the portal (when its kept body could be read) and returns it. */
  bind(m: TrackedMessage): { portal: string; info: PortalInfo } {
    const bind = safe(() => parseBind(m.body ?? Buffer.alloc(0), { isTruncated: m.isTruncated }));
    if (bind === undefined) return { portal: '', info: UNKNOWN_PORTAL };
    const statement = this.#statements.get(bind.statement);
    const params = bind.params.map((value, i) =>
      formatParam(value, formatOf(bind.paramFormats, i)),
    );
    const info: PortalInfo = {
      sql: statement?.sql,
      isSqlCut: statement?.isSqlCut ?? false,
      statement: bind.statement,
      params,
      isParamsCut: bind.isTruncated || bind.params.length < bind.paramCount,
    };
    this.#portals.set(bind.portal, info);
    return { portal: bind.portal, info };
  }

  /** The portal an Execute runs, if it is known. */
  portal(name: string): PortalInfo | undefined {
    return this.#portals.get(name);
  }

  /** A Close: forgets the statement or portal it names. */
  close(m: TrackedMessage): void {
    const target = safe(() => parseTargeted(m.body ?? Buffer.alloc(0), 'Close'));
    if (target?.what === 'S') this.#statements.delete(target.name);
    if (target?.what === 'P') this.#portals.delete(target.name);
  }
}

function formatOf(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0;
  if (formats.length === 1) return formats[0] ?? 0;
  return formats[i] ?? 0;
}

// Text parameters as text; binary ones as bytea-style hex (the type is not known here).
function formatParam(value: Buffer | null, format: number): string | null {
  if (value === null) return null;
  if (format === 0) return value.toString('utf8');
  const shown = value.subarray(0, BINARY_PARAM_SHOWN_BYTES).toString('hex');
  return `\\x${shown}${value.length > BINARY_PARAM_SHOWN_BYTES ? '…' : ''}`;
}

function portalSize(p: PortalInfo): number {
  let size = 64 + (p.sql?.length ?? 0);
  for (const v of p.params) size += (v?.length ?? 0) + 8;
  return size;
}
