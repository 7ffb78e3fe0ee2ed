/**
 * Splits MySQL/MariaDB SQL into statements of tokens, as far as a gateway needs to tell what a
 * statement does (MySQL manual "Comments", "String Literals", "Schema Object Names"): comments
 * are dropped except executable ones (`/*! … *\/`, `/*M! … *\/`), whose content is code; string
 * literals, quoted identifiers and words become tokens; `;` ends a statement.
 *
 * Whether a backslash escapes inside quotes depends on the session's sql_mode
 * (NO_BACKSLASH_ESCAPES) and on multi-byte client character sets, which a gateway cannot know
 * for sure: the caller lexes both ways when it matters.
 */

/** One token. Words are upper-cased; quoted tokens keep their content, unescaped only roughly. */
export interface SqlToken {
  readonly kind: 'word' | 'string' | 'identifier' | 'variable' | 'number' | 'symbol';
  readonly text: string;
}

/** Options of {@link lexStatements}. */
export interface LexOptions {
  /** Backslash escapes in '…' and "…" (the default sql_mode). */
  readonly hasBackslashEscapes: boolean;
}

/** The statements of a query (empty ones, e.g. only comments, are dropped). */
export function lexStatements(sql: string, options: LexOptions): SqlToken[][] {
  const statements: SqlToken[][] = [];
  let current: SqlToken[] = [];
  const n = sql.length;
  let i = 0;
  let isInExecutableComment = false;
  const push = (token: SqlToken): void => {
    current.push(token);
  };
  while (i < n) {
    const c = sql.charAt(i);
    const next = sql.charAt(i + 1);
    if (c === ';') {
      if (current.length > 0) statements.push(current);
      current = [];
      i += 1;
    } else if (/\s/.test(c)) {
      i += 1;
    } else if (
      c === '#' ||
      (c === '-' && next === '-' && isDashCommentStart(sql.charAt(i + 2), i + 2 >= n))
    ) {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
    } else if (c === '/' && next === '*') {
      const marker = /^\/\*M?!(\d{5,6})?/.exec(sql.slice(i, i + 10));
      if (marker !== null) {
        isInExecutableComment = true;
        i += marker[0].length;
      } else {
        const end = sql.indexOf('*/', i + 2);
        i = end < 0 ? n : end + 2;
      }
    } else if (c === '*' && next === '/' && isInExecutableComment) {
      isInExecutableComment = false;
      i += 2;
    } else if (c === "'" || c === '"') {
      const end = endOfQuoted(sql, i, c, options.hasBackslashEscapes);
      push({
        kind: 'string',
        text: unquote(sql.slice(i + 1, end.contentEnd), c, options.hasBackslashEscapes),
      });
      i = end.next;
    } else if (c === '`') {
      const end = endOfQuoted(sql, i, c, false);
      push({ kind: 'identifier', text: sql.slice(i + 1, end.contentEnd).replaceAll('``', '`') });
      i = end.next;
    } else if (c === '@') {
      let end = i + 1;
      while (end < n && /[@A-Za-z0-9_.$]/.test(sql.charAt(end))) end += 1;
      push({ kind: 'variable', text: sql.slice(i, end).toLowerCase() });
      i = end;
    } else if (isWordStart(c)) {
      let end = i + 1;
      while (end < n && isWordPart(sql.charAt(end))) end += 1;
      const text = sql.slice(i, end);
      push({
        kind: /^\d/.test(text) && /^[\d.eE+-]+$/.test(text) ? 'number' : 'word',
        text: text.toUpperCase(),
      });
      i = end;
    } else {
      push({ kind: 'symbol', text: c });
      i += 1;
    }
  }
  if (current.length > 0) statements.push(current);
  return statements;
}

// "-- " starts a comment only when followed by whitespace or a control character (or the end).
function isDashCommentStart(after: string, isEnd: boolean): boolean {
  return isEnd || after === '' || /[\s\x00-\x1f]/.test(after);
}

function isWordStart(c: string): boolean {
  return /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
}

function isWordPart(c: string): boolean {
  return /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
}

/** Where a quoted token's content ends and the next token starts (unterminated: the end). */
function endOfQuoted(
  sql: string,
  open: number,
  quote: string,
  hasEscapes: boolean,
): { contentEnd: number; next: number } {
  let i = open + 1;
  while (i < sql.length) {
    const c = sql.charAt(i);
    if (hasEscapes && c === '\\') i += 2;
    else if (c === quote) {
      if (sql.charAt(i + 1) === quote) i += 2;
      else return { contentEnd: i, next: i + 1 };
    } else i += 1;
  }
  return { contentEnd: sql.length, next: sql.length };
}

const ESCAPES: Record<string, string> = {
  '0': '\0',
  b: '\b',
  n: '\n',
  r: '\r',
  t: '\t',
  Z: '\x1a',
};

function unquote(body: string, quote: string, hasEscapes: boolean): string {
  let out = '';
  for (let i = 0; i < body.length; i += 1) {
    const c = body.charAt(i);
    if (hasEscapes && c === '\\' && i + 1 < body.length) {
      const e = body.charAt(i + 1);
      out += ESCAPES[e] ?? e;
      i += 1;
    } else if (c === quote && body.charAt(i + 1) === quote) {
      out += quote;
      i += 1;
    } else out += c;
  }
  return out;
}
