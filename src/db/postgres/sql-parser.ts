import { fingerprintSync, loadModule, parseSync } from 'libpg-query';

/**
 * The PostgreSQL parser itself (libpg-query, compiled to WebAssembly): statement fingerprints
 * for audit and the parse trees the read-only check walks. Parsing is synchronous and costs
 * ~30 µs for a short statement, about 0.7 ms per KiB for long ones, so texts are bounded.
 */

/** Longest statement text parsed; a read-only target refuses longer ones (they cannot be checked). */
export const MAX_PARSED_SQL_BYTES = 256 * 1024;

/** A parse-tree node as libpg-query gives it: `{ NodeType: { …fields } }`. */
export type ParseNode = Readonly<Record<string, unknown>>;

let loading: Promise<void> | undefined;
let isLoaded = false;

/** Loads the parser (WebAssembly) once; call before serving connections. */
export async function loadSqlParser(): Promise<void> {
  loading ??= loadModule().then(() => {
    isLoaded = true;
  });
  await loading;
}

/** The statements of `sql`, each a `{ NodeType: {…} }` tree; throws on a syntax error or before load. */
export function parseStatements(sql: string): ParseNode[] {
  assertLoaded();
  const result = parseSync(sql) as { stmts?: { stmt?: ParseNode }[] };
  return (result.stmts ?? []).map((s) => s.stmt ?? {});
}

/**
 * The statement's fingerprint (same for the same statement with other constants), or null
 * when it does not parse or is longer than {@link MAX_PARSED_SQL_BYTES}.
 */
export function fingerprintSql(sql: string): string | null {
  if (!isLoaded || sql.length > MAX_PARSED_SQL_BYTES) return null;
  try {
    return fingerprintSync(sql);
  } catch {
    return null;
  }
}

function assertLoaded(): void {
  if (!isLoaded) throw new Error('the SQL parser is not loaded (call loadSqlParser first)');
}
