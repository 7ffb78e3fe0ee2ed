/**
 * A quick look at a statement's text before the full audit work (src/db/query-audit.ts):
 * most statements are plain (words, numbers, simple string literals, a few operators), and
 * for those the redactor has nothing to do and, for PostgreSQL DML, the fingerprint depends
 * only on the text with its constants blanked out, so it can be remembered across texts
 * that differ only in constants (`pgbench -S` sends a new literal every time).
 */

/** What {@link scanPlainSql} found. */
export interface PlainSql {
  /** Nothing in the text for the redactor (src/db/redact.ts) to replace or to flag. */
  readonly isPlain: boolean;
  /**
   * For a plain PostgreSQL SELECT/INSERT/UPDATE/DELETE/WITH/VALUES/TABLE whose constants all
   * parse as constants (A_Const, which libpg-query's fingerprint ignores): the text with each
   * number replaced by 0 and each string literal emptied. Texts with the same shape have the
   * same fingerprint. Undefined otherwise.
   */
  readonly shape: string | undefined;
}

const NOT_PLAIN: PlainSql = { isPlain: false, shape: undefined };

/** First words of the statements whose shape is taken. */
const SHAPED_FIRST_WORDS: ReadonlySet<string> = new Set([
  'select',
  'insert',
  'update',
  'delete',
  'with',
  'values',
  'table',
]);
/**
 * Words after which an integer is not a constant in PostgreSQL's grammar: `float(p)` picks
 * the type by p, `current_time(p)` and the like keep p as a typmod field.
 */
const UNSHAPED_WORDS: ReadonlySet<string> = new Set([
  'float',
  'current_time',
  'current_timestamp',
  'localtime',
  'localtimestamp',
]);
// The redactor's trigger words (src/db/redact.ts SECRET_WORD, SECRET_IN_LITERAL): all end in d.
const SECRET_WORD = /^(?:[a-z0-9]+_)?password$|^identified$|^passwd$/i;
const SECRET_IN_LITERAL = /pass(?:word|wd)\s*=/i;

// Character codes.
const Char = {
  Tab: 9,
  Newline: 10,
  Return: 13,
  Space: 32,
  Bang: 33,
  Percent: 37,
  Quote: 39,
  OpenParen: 40,
  CloseParen: 41,
  Star: 42,
  Plus: 43,
  Comma: 44,
  Minus: 45,
  Dot: 46,
  Slash: 47,
  Zero: 48,
  Nine: 57,
  Colon: 58,
  Semicolon: 59,
  Less: 60,
  Equals: 61,
  Greater: 62,
  UpperA: 65,
  UpperE: 69,
  UpperZ: 90,
  Underscore: 95,
  LowerA: 97,
  LowerD: 100,
  LowerE: 101,
  LowerZ: 122,
  Bar: 124,
} as const;

function isLetter(c: number): boolean {
  return (
    (c >= Char.LowerA && c <= Char.LowerZ) ||
    (c >= Char.UpperA && c <= Char.UpperZ) ||
    c === Char.Underscore
  );
}

function isDigit(c: number): boolean {
  return c >= Char.Zero && c <= Char.Nine;
}

// Operators and punctuation that never start a comment, a quoted name or a special literal
// in either dialect ('-' and '/' are checked for '--' and '/*' apart).
function isPlainPunctuation(c: number): boolean {
  switch (c) {
    case Char.Space:
    case Char.Tab:
    case Char.Newline:
    case Char.Return:
    case Char.Comma:
    case Char.OpenParen:
    case Char.CloseParen:
    case Char.Dot:
    case Char.Star:
    case Char.Equals:
    case Char.Less:
    case Char.Greater:
    case Char.Bang:
    case Char.Plus:
    case Char.Percent:
    case Char.Colon:
    case Char.Bar:
      return true;
    default:
      return false;
  }
}

/**
 * Scans `sql` once. Plain means: only ASCII words, numbers, `'…'` literals without
 * backslashes or a prefix (E'', N'', X'', …), whitespace and the punctuation above; no
 * comment, quoted name, dollar quote, parameter marker or `;` before the end; no word or
 * literal that the redactor reacts to. Anything else is not plain and takes the full path.
 */
export function scanPlainSql(sql: string, dialect: 'postgres' | 'mysql'): PlainSql {
  // A backslash escapes in MySQL literals, and in PostgreSQL's with standard_conforming_strings off.
  if (sql.includes('\\')) return NOT_PLAIN;
  const n = sql.length;
  let shape = '';
  let copiedTo = 0;
  let isShaped = dialect === 'postgres';
  let firstWord: string | undefined;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (isLetter(c)) {
      let end = i + 1;
      while (end < n) {
        const d = sql.charCodeAt(end);
        if (!isLetter(d) && !isDigit(d)) break;
        end += 1;
      }
      const last = sql.charCodeAt(end - 1) | 0x20;
      if (last === Char.LowerD && end - i >= 6 && SECRET_WORD.test(sql.slice(i, end)))
        return NOT_PLAIN;
      if (isShaped) {
        const word = sql.slice(i, end).toLowerCase();
        if (firstWord === undefined) {
          firstWord = word;
          if (!SHAPED_FIRST_WORDS.has(word)) isShaped = false;
        } else if (UNSHAPED_WORDS.has(word)) isShaped = false;
      }
      i = end;
    } else if (isDigit(c) || (c === Char.Dot && isDigit(sql.charCodeAt(i + 1)))) {
      // `t.5`: a name before it would run into the 0 of the shape.
      if (i > 0 && (isLetter(sql.charCodeAt(i - 1)) || isDigit(sql.charCodeAt(i - 1))))
        return NOT_PLAIN;
      const end = endOfNumber(sql, i);
      const after = sql.charCodeAt(end);
      // `1abc`, `0x1F`, `1_000`, `1.2.3`: left to the full path.
      if (isLetter(after) || isDigit(after) || after === Char.Dot) return NOT_PLAIN;
      if (isShaped) {
        shape += `${sql.slice(copiedTo, i)}0`;
        copiedTo = end;
      }
      i = end;
    } else if (c === Char.Quote) {
      const end = endOfLiteral(sql, i);
      if (end < 0) return NOT_PLAIN;
      const eq = sql.indexOf('=', i);
      if (eq >= 0 && eq < end && SECRET_IN_LITERAL.test(sql.slice(i, end))) return NOT_PLAIN;
      if (isShaped) {
        shape += `${sql.slice(copiedTo, i)}''`;
        copiedTo = end;
      }
      i = end;
    } else if (c === Char.Minus) {
      if (sql.charCodeAt(i + 1) === Char.Minus) return NOT_PLAIN;
      i += 1;
    } else if (c === Char.Slash) {
      if (sql.charCodeAt(i + 1) === Char.Star) return NOT_PLAIN;
      i += 1;
    } else if (c === Char.Semicolon) {
      // Only a final `;`: a second statement could be anything.
      for (let j = i + 1; j < n; j++) if (!isSpace(sql.charCodeAt(j))) return NOT_PLAIN;
      i = n;
    } else if (isPlainPunctuation(c)) {
      i += 1;
    } else {
      return NOT_PLAIN;
    }
  }
  if (!isShaped || firstWord === undefined) return { isPlain: true, shape: undefined };
  return { isPlain: true, shape: copiedTo === 0 ? sql : shape + sql.slice(copiedTo) };
}

function isSpace(c: number): boolean {
  return c === Char.Space || c === Char.Tab || c === Char.Newline || c === Char.Return;
}

// PostgreSQL's decimal number: digits [. digits] [e [+-] digits], or . digits [e …].
function endOfNumber(sql: string, from: number): number {
  let i = from;
  while (isDigit(sql.charCodeAt(i))) i += 1;
  if (sql.charCodeAt(i) === Char.Dot && sql.charCodeAt(i + 1) !== Char.Dot) {
    i += 1;
    while (isDigit(sql.charCodeAt(i))) i += 1;
  }
  const e = sql.charCodeAt(i);
  if (e === Char.LowerE || e === Char.UpperE) {
    let j = i + 1;
    const sign = sql.charCodeAt(j);
    if (sign === Char.Plus || sign === Char.Minus) j += 1;
    if (isDigit(sql.charCodeAt(j))) {
      while (isDigit(sql.charCodeAt(j))) j += 1;
      i = j;
    }
  }
  return i;
}

// The end of a '…' literal ('' is a quote inside it; the text has no backslash); -1 when it
// has a prefix (E'', N'', X'', _utf8'', U&'') or no end.
function endOfLiteral(sql: string, open: number): number {
  const before = open > 0 ? sql.charCodeAt(open - 1) : Char.Space;
  if (isLetter(before) || isDigit(before) || before === Char.Quote) return -1;
  let i = open + 1;
  for (;;) {
    const close = sql.indexOf("'", i);
    if (close < 0) return -1;
    if (sql.charCodeAt(close + 1) === Char.Quote) {
      i = close + 2;
      continue;
    }
    return close + 1;
  }
}
