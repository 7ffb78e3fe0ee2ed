/**
 * What the MySQL front end lets through, statement by statement: LOAD DATA LOCAL INFILE never
 * (the gateway would be reading files for the target), and on read-only targets only statements
 * that read. The target session is also put in READ ONLY transaction mode (see session.ts), so a
 * write the classifier misses still fails on the server; this check gives the clear error and
 * keeps the session from undoing that mode.
 */
import { lexStatements, type SqlToken } from './sql-lexer.js';

/** Why a query is refused. */
export type RefusalReason = 'local-infile' | 'read-only' | 'too-long';

/** The verdict on a query. */
export type QueryVerdict =
  | { readonly isAllowed: true }
  | {
      readonly isAllowed: false;
      readonly reason: RefusalReason;
      /** The statement's leading keyword (`DELETE`, `LOAD`…), for the error message. */
      readonly verb: string;
    };

/** Options of {@link checkQuery}. */
export interface QueryCheckOptions {
  readonly isReadOnly: boolean;
  /** False when `sql` is only the start of a longer query. */
  readonly isComplete: boolean;
}

const ALLOWED: QueryVerdict = { isAllowed: true };

/**
 * Checks a COM_QUERY or COM_STMT_PREPARE text. Quoting is lexed both with and without
 * backslash escapes when the text has a backslash (sql_mode and multi-byte character sets
 * decide on the server), and both readings must pass.
 */
export function checkQuery(sql: string, options: QueryCheckOptions): QueryVerdict {
  const modes = sql.includes('\\') ? [true, false] : [true];
  for (const hasBackslashEscapes of modes) {
    const statements = lexStatements(sql, { hasBackslashEscapes });
    for (const tokens of statements) {
      const verdict = checkStatement(tokens, options.isReadOnly);
      if (!verdict.isAllowed) return verdict;
    }
  }
  if (options.isReadOnly && !options.isComplete)
    return { isAllowed: false, reason: 'too-long', verb: firstVerb(sql) };
  return ALLOWED;
}

function checkStatement(tokens: readonly SqlToken[], isReadOnly: boolean): QueryVerdict {
  const words = tokens.filter((t) => t.kind === 'word').map((t) => t.text);
  const verb = words[0] ?? '';
  if (
    verb === 'LOAD' &&
    words.indexOf('LOCAL') > 0 &&
    words.indexOf('LOCAL') < indexOrEnd(words, 'INFILE')
  ) {
    return { isAllowed: false, reason: 'local-infile', verb };
  }
  if (!isReadOnly) return ALLOWED;
  return isReadStatement(tokens)
    ? ALLOWED
    : { isAllowed: false, reason: 'read-only', verb: verb === '' ? 'this' : verb };
}

const ALWAYS_READ = new Set([
  'SHOW',
  'HELP',
  'USE',
  'COMMIT',
  'ROLLBACK',
  'SAVEPOINT',
  'RELEASE',
  'DEALLOCATE',
  'DO',
  'KILL',
  'UNLOCK',
  'CHECKSUM',
  'EXECUTE',
]);
const SELECT_LIKE = new Set(['SELECT', 'VALUES', 'TABLE']);
const WRITE_WORDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'MERGE']);
const EXPLAINED_STATEMENT = new Set([
  'SELECT',
  'WITH',
  'TABLE',
  'VALUES',
  'UPDATE',
  'DELETE',
  'INSERT',
  'REPLACE',
]);
// Session settings a read-only session must not change: the read-only mode itself, and the
// SQL mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES change how text is split into statements).
const FORBIDDEN_SETTINGS = new Set([
  'SQL_MODE',
  'TX_READ_ONLY',
  'TRANSACTION_READ_ONLY',
  'READ_ONLY',
  'PASSWORD',
  'GLOBAL',
  'PERSIST',
  'PERSIST_ONLY',
]);

/** True when a statement only reads (conservative: unknown statements are writes). */
function isReadStatement(tokens: readonly SqlToken[]): boolean {
  const start = tokens.findIndex((t) => !(t.kind === 'symbol' && t.text === '('));
  const body = start < 0 ? [] : tokens.slice(start);
  const words = body.filter((t) => t.kind === 'word').map((t) => t.text);
  const verb = body[0]?.kind === 'word' ? body[0].text : '';
  if (verb === '') return body.length === 0;
  if (ALWAYS_READ.has(verb)) return true;
  if (SELECT_LIKE.has(verb)) return !writesFile(words);
  if (verb === 'WITH') return !writesFile(words) && !words.some((w) => WRITE_WORDS.has(w));
  if (verb === 'EXPLAIN' || verb === 'DESCRIBE' || verb === 'DESC' || verb === 'ANALYZE')
    return isExplainRead(body, verb);
  if (verb === 'SET') return isSetRead(body, words);
  if (verb === 'BEGIN') return words.length === 1 || (words.length === 2 && words[1] === 'WORK');
  if (verb === 'START') return words[1] === 'TRANSACTION' && !hasSequence(words, ['READ', 'WRITE']);
  if (verb === 'PREPARE') return isPrepareRead(body);
  return false;
}

function writesFile(words: readonly string[]): boolean {
  return hasSequence(words, ['INTO', 'OUTFILE']) || hasSequence(words, ['INTO', 'DUMPFILE']);
}

/**
 * EXPLAIN/DESCRIBE only describe, unless ANALYZE makes them run the statement (MySQL
 * `EXPLAIN ANALYZE`, MariaDB `ANALYZE <stmt>`): then the statement itself must be a read.
 * `ANALYZE TABLE` updates index statistics: a write.
 */
function isExplainRead(body: readonly SqlToken[], verb: string): boolean {
  const words = body.filter((t) => t.kind === 'word').map((t) => t.text);
  const runs = verb === 'ANALYZE' || words.includes('ANALYZE');
  if (!runs) return true;
  const inner = body.findIndex(
    (t, i) => i > 0 && t.kind === 'word' && EXPLAINED_STATEMENT.has(t.text),
  );
  if (inner < 0) return false;
  const first = body[inner];
  if (verb === 'ANALYZE' && first?.text === 'TABLE' && inner <= 3) return false;
  return isReadStatement(body.slice(inner));
}

/** SET of ordinary session variables; not the read-only mode, the SQL mode, a password… */
function isSetRead(body: readonly SqlToken[], words: readonly string[]): boolean {
  if (hasSequence(words, ['READ', 'WRITE']) || hasSequence(words, ['DEFAULT', 'ROLE']))
    return false;
  for (const t of body) {
    const name =
      t.kind === 'variable'
        ? (t.text.split('.').pop() ?? '').replace(/^@+/, '').toUpperCase()
        : t.kind === 'word'
          ? t.text
          : '';
    if (FORBIDDEN_SETTINGS.has(name)) return false;
  }
  // MariaDB: SET STATEMENT var=value FOR <statement>.
  if (words[1] === 'STATEMENT') {
    const at = body.findIndex((t) => t.kind === 'word' && t.text === 'FOR');
    return at > 0 && isReadStatement(body.slice(at + 1));
  }
  return true;
}

/** PREPARE name FROM '<statement>': the statement must be a read; FROM @variable cannot be checked. */
function isPrepareRead(body: readonly SqlToken[]): boolean {
  const from = body.findIndex((t) => t.kind === 'word' && t.text === 'FROM');
  const source = body[from + 1];
  if (from < 0 || source?.kind !== 'string' || body.length !== from + 2) return false;
  const verdict = checkQuery(source.text, { isReadOnly: true, isComplete: true });
  return verdict.isAllowed && lexStatements(source.text, { hasBackslashEscapes: true }).length <= 1;
}

function hasSequence(words: readonly string[], sequence: readonly string[]): boolean {
  for (let i = 0; i + sequence.length <= words.length; i += 1) {
    if (sequence.every((w, j) => words[i + j] === w)) return true;
  }
  return false;
}

function indexOrEnd(words: readonly string[], word: string): number {
  const at = words.indexOf(word);
  return at < 0 ? words.length : at;
}

function firstVerb(sql: string): string {
  const first = lexStatements(sql.slice(0, 4096), { hasBackslashEscapes: true })[0]?.find(
    (t) => t.kind === 'word',
  );
  return first?.text ?? 'this';
}

/** A `KILL [HARD|SOFT] [CONNECTION|QUERY] <id>` query, for mapping gateway connection ids. */
export interface KillStatement {
  /** The words before the id (`KILL QUERY`). */
  readonly prefix: string;
  readonly id: number;
}

/** Recognizes a query that is exactly one KILL of a connection id (what clients send on Ctrl-C). */
export function parseKill(sql: string): KillStatement | undefined {
  if (sql.length > 512) return undefined;
  const statements = lexStatements(sql, { hasBackslashEscapes: true });
  const tokens = statements[0];
  if (statements.length !== 1 || tokens === undefined) return undefined;
  const texts = tokens.map((t) => t.text);
  const last = tokens[tokens.length - 1];
  if (texts[0] !== 'KILL' || last?.kind !== 'number' || !/^\d{1,10}$/.test(last.text))
    return undefined;
  const middle = texts.slice(1, -1);
  const isValid =
    middle.every(
      (w, i) => (i === 0 && (w === 'HARD' || w === 'SOFT')) || w === 'CONNECTION' || w === 'QUERY',
    ) && middle.length <= 2;
  if (!isValid) return undefined;
  return { prefix: ['KILL', ...middle].join(' '), id: Number(last.text) };
}
