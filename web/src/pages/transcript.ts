import { api } from '../api.js';
import { formatTime, h, pill, table } from '../dom.js';

interface Entry {
  readonly t: number;
  readonly time: number;
  readonly type: string;
  readonly sql?: string | null;
  readonly status?: string;
  readonly durationMs?: number;
  readonly rows?: number | null;
  readonly affectedRows?: number;
  readonly sqlstate?: string;
  readonly error?: string;
  readonly [field: string]: unknown;
}
interface Transcript {
  header: { protocol: string; account: string; database: string | null; startedAt: number };
  entries: Entry[];
  isTruncated: boolean;
  hasMore: boolean;
}

const text = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);

/** The query transcript of a database session: each statement with its outcome, rows and timing. */
export async function transcriptSection(sid: string): Promise<HTMLElement> {
  const res = await api<Transcript>('GET', `/api/sessions/${sid}/transcript?limit=5000`);
  const statements = res.entries.filter((e) => e.type === 'query').length;
  const errors = res.entries.filter((e) => e.type === 'query' && e.status === 'error').length;
  const denied = res.entries.filter((e) => e.type === 'denied').length;
  const outcome = (e: Entry): HTMLElement => {
    if (e.type === 'denied') return pill('denied', 'bad');
    if (e.type === 'cancel') return pill('cancel', 'warn');
    if (e.type === 'end') return pill('end', 'muted');
    return e.status === 'error'
      ? pill(e.sqlstate === undefined ? 'error' : `error ${e.sqlstate}`, 'bad')
      : pill('ok', 'ok');
  };
  const statement = (e: Entry): Node | string => {
    if (e.type === 'end')
      return h('span', { class: 'muted' }, `session ended: ${text(e['reason'])}`);
    if (e.type === 'cancel')
      return h('span', { class: 'muted' }, `cancel request from ${text(e['fromAddr'])}`);
    return h(
      'div',
      null,
      h('code', { class: 'sql' }, e.sql ?? '(no text)'),
      e.type === 'denied'
        ? h(
            'div',
            { class: 'small bad' },
            `refused by policy (${text(e['mode'])}): ${text(e['reason'])}`,
          )
        : null,
      e.error === undefined ? null : h('div', { class: 'small bad' }, e.error),
      e['redacted'] === true
        ? h('div', { class: 'small muted' }, 'secrets in this statement were redacted')
        : null,
    );
  };
  return h(
    'section',
    { class: 'card card-flush', id: 'transcript' },
    h(
      'div',
      { class: 'card-head pad' },
      h('h3', null, 'Query transcript'),
      h(
        'div',
        { class: 'muted small' },
        `${statements} statements, ${errors} failed, ${denied} denied · ${res.header.protocol} as ${res.header.account}${res.header.database === null ? '' : ` on ${res.header.database}`}${res.isTruncated ? ' · still being written' : ''}`,
      ),
    ),
    table(
      ['Time', 'Statement', 'Outcome', 'Rows', 'Duration'],
      res.entries.map((e) =>
        h(
          'tr',
          { class: `entry-${e.type}` },
          h('td', { class: 'nowrap' }, formatTime(e.time)),
          h('td', { class: 'break' }, statement(e)),
          h('td', null, outcome(e)),
          h(
            'td',
            { class: 'nowrap' },
            typeof e.affectedRows === 'number' && e.affectedRows > 0
              ? `${e.affectedRows} affected`
              : typeof e.rows === 'number'
                ? String(e.rows)
                : '',
          ),
          h(
            'td',
            { class: 'nowrap' },
            typeof e.durationMs === 'number'
              ? `${e.durationMs < 10 ? e.durationMs.toFixed(1) : Math.round(e.durationMs)} ms`
              : '',
          ),
        ),
      ),
      { class: 'transcript', empty: null },
    ),
    res.hasMore ? h('p', { class: 'muted pad' }, 'Only the first 5000 entries are shown.') : null,
  );
}
