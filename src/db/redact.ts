/**
 * Keeps secrets out of audit events and transcripts (DESIGN.md §5): password literals in SQL
 * are replaced, and query text is cut at 64 KiB with a flag. Shared by the PostgreSQL and
 * MySQL front ends; it tokenizes just enough of each dialect to find string literals.
 */

/** Longest query text kept in an event or transcript line, in UTF-8 bytes. */
export const MAX_AUDITED_SQL_BYTES = 64 * 1024;
/** What replaces a redacted literal. */
export const REDACTED_LITERAL = "'[redacted]'";

/** SQL dialects the tokenizer knows: how strings, identifiers and comments are written. */
export type SqlDialect = 'postgres' | 'mysql';

/** Text made safe to keep. */
export interface RedactedSql {
  readonly text: string;
  /** True when at least one literal was replaced: parameters and error text go too. */
  readonly isRedacted: boolean;
  /** True when the text was cut (it was longer than the limit, or arrived cut). */
  readonly isTruncated: boolean;
}

/** Options of {@link redactSql}. */
export interface RedactOptions {
  readonly dialect: SqlDialect;
  /** The text is already a prefix of a longer query (the relay kept only its start). */
  readonly isCut?: boolean;
  readonly maxBytes?: number;
}

// Words after which every string literal of the statement is a secret: PASSWORD (ALTER ROLE,
// CREATE USER, SET PASSWORD, OPTIONS (password '…')), MASTER_PASSWORD / SOURCE_PASSWORD,
// IDENTIFIED (MySQL IDENTIFIED BY / WITH … AS), PASSWD.
const SECRET_WORD = /^(?:[a-z0-9]+_)?password$|^identified$|^passwd$/i;
// Connection strings inside literals: 'host=db password=…' (dblink, CREATE SUBSCRIPTION).
const SECRET_IN_LITERAL = /pass(?:word|wd)\s*=/i;

/**
 * Replaces password literals and cuts the text at `maxBytes` (64 KiB). Errs toward hiding:
 * once a statement names a password, all of its later literals are replaced.
 */
export function redactSql(sql: string, options: RedactOptions): RedactedSql {
  const maxBytes = options.maxBytes ?? MAX_AUDITED_SQL_BYTES;
  // Work on a bounded prefix: what is beyond the kept bytes is never shown anyway.
  const isLong = Buffer.byteLength(sql, 'utf8') > maxBytes;
  const source = isLong ? cutUtf8(sql, maxBytes) : sql;
  const { text, isRedacted } = replaceSecrets(source, options.dialect);
  const final = Buffer.byteLength(text, 'utf8') > maxBytes ? cutUtf8(text, maxBytes) : text;
  return {
    text: final,
    isRedacted,
    isTruncated: isLong || options.isCut === true || final !== text,
  };
}

/** True when `sql` names a password anywhere (its bound parameters are then hidden too). */
export function mentionsSecret(sql: string, dialect: SqlDialect): boolean {
  return replaceSecrets(
    sql.length > 4 * MAX_AUDITED_SQL_BYTES ? sql.slice(0, 4 * MAX_AUDITED_SQL_BYTES) : sql,
    dialect,
  ).hasSecretWord;
}

/** Cuts `text` to at most `maxBytes` UTF-8 bytes without splitting a character. */
export function cutUtf8(text: string, maxBytes: number): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes: short texts need no encoding to know they fit.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Back up to the start of a character (continuation bytes are 10xxxxxx).
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return bytes.toString('utf8', 0, end);
}

interface Scan {
  readonly text: string;
  readonly isRedacted: boolean;
  readonly hasSecretWord: boolean;
}

function replaceSecrets(sql: string, dialect: SqlDialect): Scan {
  let out = '';
  let copiedTo = 0;
  let isArmed = false;
  let isRedacted = false;
  let hasSecretWord = false;
  let i = 0;
  const n = sql.length;
  const replace = (from: number, to: number): void => {
    out += sql.slice(copiedTo, from) + REDACTED_LITERAL;
    copiedTo = to;
    isRedacted = true;
  };
  while (i < n) {
    const c = sql[i] ?? '';
    const next = sql[i + 1] ?? '';
    if (c === '-' && next === '-') {
      i = endOfLine(sql, i);
    } else if (c === '#' && dialect === 'mysql') {
      i = endOfLine(sql, i);
    } else if (c === '/' && next === '*') {
      i = endOfBlockComment(sql, i, dialect === 'postgres');
    } else if (c === ';') {
      isArmed = false;
      i += 1;
    } else if (c === "'" || (c === '"' && dialect === 'mysql')) {
      const escapes = dialect === 'mysql' || isEscapePrefixed(sql, i);
      const end = endOfQuoted(sql, i, c, escapes);
      if (isArmed || SECRET_IN_LITERAL.test(sql.slice(i, end))) replace(literalStart(sql, i), end);
      i = end;
    } else if (c === '"' || (c === '`' && dialect === 'mysql')) {
      const end = endOfQuoted(sql, i, c, false);
      if (SECRET_WORD.test(sql.slice(i + 1, end - 1))) {
        isArmed = true;
        hasSecretWord = true;
      }
      i = end;
    } else if (c === '$' && dialect === 'postgres' && !isWordChar(sql[i - 1])) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 66));
      if (tag === null) {
        i += 1;
        continue;
      }
      const close = sql.indexOf(tag[0], i + tag[0].length);
      const end = close < 0 ? n : close + tag[0].length;
      if (isArmed || SECRET_IN_LITERAL.test(sql.slice(i, end))) replace(i, end);
      i = end;
    } else if (isWordChar(c)) {
      let end = i + 1;
      while (end < n && isWordChar(sql[end])) end += 1;
      if (SECRET_WORD.test(sql.slice(i, end))) {
        isArmed = true;
        hasSecretWord = true;
      }
      i = end;
    } else {
      i += 1;
    }
  }
  return { text: copiedTo === 0 ? sql : out + sql.slice(copiedTo), isRedacted, hasSecretWord };
}

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_\u0080-\uffff]/.test(c);
}

// E'…' (PostgreSQL escape string) takes backslash escapes; a standard '…' does not.
function isEscapePrefixed(sql: string, quote: number): boolean {
  const prev = sql[quote - 1];
  return (prev === 'E' || prev === 'e') && !isWordChar(sql[quote - 2]);
}

// A prefixed literal (E'…', N'…', X'…', B'…', U&'…', _utf8'…') is replaced whole.
function literalStart(sql: string, quote: number): number {
  let start = quote;
  if (sql[start - 1] === '&' && /[Uu]/.test(sql[start - 2] ?? '')) start -= 2;
  else if (/[EeNnXxBb]/.test(sql[start - 1] ?? '') && !isWordChar(sql[start - 2])) start -= 1;
  return start;
}

function endOfQuoted(sql: string, open: number, quote: string, hasEscapes: boolean): number {
  let i = open + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (hasEscapes && c === '\\') {
      i += 2;
    } else if (c === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i += 1;
    }
  }
  return sql.length; // unterminated (or cut): the rest is inside the literal
}

function endOfLine(sql: string, from: number): number {
  const nl = sql.indexOf('\n', from);
  return nl < 0 ? sql.length : nl + 1;
}

// PostgreSQL block comments nest; MySQL's do not.
function endOfBlockComment(sql: string, open: number, isNesting: boolean): number {
  let depth = 0;
  let i = open;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth = isNesting ? depth + 1 : 1;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else {
      i += 1;
    }
  }
  return sql.length;
}
