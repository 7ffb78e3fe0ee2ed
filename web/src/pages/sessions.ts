import { api, queryString } from '../api.js';
import { can, type Page } from '../app.js';
import { formatDuration, formatTime, h, render, table } from '../dom.js';
import type { SessionInfo } from '../types.js';
import { filterForm, statusPill } from './common.js';

const PAGE_SIZE = 50;

/** Sessions: live and past, filtered by user, target, kind, status, time, and command/query text. */
export const sessionsPage: Page = async ({ root, me, query, navigate }) => {
  const isAll = can(me, 'sessions.read');
  const field = (
    name: string,
    label: string,
    input: HTMLInputElement | HTMLSelectElement,
  ): HTMLElement => {
    input.name = name;
    input.value = query.get(name) ?? '';
    return h('label', null, label, input);
  };
  const select = (options: [string, string][]): HTMLSelectElement =>
    h(
      'select',
      null,
      options.map(([v, l]) => h('option', { value: v }, l)),
    );
  const form = filterForm(
    [
      field(
        'q',
        'Search',
        h('input', { type: 'search', placeholder: 'command, query or file path' }),
      ),
      isAll ? field('user', 'User', h('input', { placeholder: 'any' })) : null,
      field('target', 'Target', h('input', { placeholder: 'any' })),
      field(
        'kind',
        'Kind',
        select([
          ['', 'any'],
          ['ssh', 'SSH'],
          ['postgres', 'PostgreSQL'],
          ['mysql', 'MySQL'],
        ]),
      ),
      field(
        'status',
        'Status',
        select([
          ['', 'any'],
          ['active', 'live'],
          ['ended', 'ended'],
          ['terminated', 'terminated'],
          ['failed', 'failed'],
          ['abandoned', 'abandoned'],
        ]),
      ),
      field('from', 'From day', h('input', { type: 'date' })),
      field('to', 'To day', h('input', { type: 'date' })),
    ],
    { path: '/sessions', navigate },
  );
  const tableEl = h('div', { class: 'table-wrap' });
  const more = h('div', { class: 'more' });
  render(
    root,
    h(
      'header',
      { class: 'page-head' },
      h('h1', null, isAll ? 'Sessions' : 'My sessions'),
      h(
        'p',
        { class: 'muted' },
        isAll
          ? 'Every SSH and database session through Gatehouse, live and past.'
          : 'Your own sessions through Gatehouse.',
      ),
    ),
    h('div', { class: 'card' }, form),
    h('div', { class: 'card card-flush' }, tableEl, more),
  );

  // Days in local time: from the start of "from" to the end of "to".
  const dayStart = (v: string | null, addDays = 0): number | undefined => {
    if (v === null || !/^\d{4}-\d{2}-\d{2}$/.test(v)) return undefined;
    const [y = 0, m = 1, d = 1] = v.split('-').map(Number);
    return new Date(y, m - 1, d + addDays).getTime();
  };
  const baseQuery = {
    q: query.get('q') ?? undefined,
    user: query.get('user') ?? undefined,
    target: query.get('target') ?? undefined,
    kind: query.get('kind') ?? undefined,
    status: query.get('status') ?? undefined,
    from: dayStart(query.get('from')),
    to: dayStart(query.get('to'), 1),
  };
  let rows: SessionInfo[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const load = async (offset: number): Promise<void> => {
    const res = await api<{ sessions: SessionInfo[]; hasMore: boolean }>(
      'GET',
      `/api/sessions${queryString({ ...baseQuery, limit: PAGE_SIZE, offset })}`,
    );
    rows = offset === 0 ? res.sessions : [...rows, ...res.sessions];
    render(tableEl, sessionTable(rows, isAll, navigate));
    render(
      more,
      res.hasMore
        ? h(
            'button',
            { class: 'btn btn-ghost', type: 'button', onclick: () => void load(rows.length) },
            'Load older sessions',
          )
        : null,
    );
    // While something is live, keep the list fresh.
    clearTimeout(timer);
    if (offset === 0 && rows.some((r) => r.status === 'active'))
      timer = setTimeout(() => void load(0), 5_000);
  };
  await load(0);
  return () => clearTimeout(timer);
};

function sessionTable(
  rows: SessionInfo[],
  isAll: boolean,
  navigate: (path: string) => void,
): HTMLElement {
  if (rows.length === 0)
    return h('div', { class: 'empty' }, h('p', { class: 'muted' }, 'No session matches.'));
  const now = Date.now();
  return table(
    [
      'Status',
      ...(isAll ? ['User'] : []),
      'Target',
      'Kind',
      'Started',
      'Duration',
      'Client',
      'Session',
    ],
    rows.map((s) =>
      h(
        'tr',
        {
          class: 'row-link',
          'data-sid': s.sid,
          onclick: (e: Event) => {
            if (!(e.target instanceof HTMLAnchorElement)) navigate(`/sessions/${s.sid}`);
          },
        },
        h('td', null, statusPill(s.status)),
        isAll ? h('td', null, h('strong', null, s.user)) : null,
        h('td', null, s.target),
        h('td', null, s.kind),
        h('td', { class: 'nowrap' }, formatTime(s.startedAt)),
        h('td', { class: 'nowrap' }, formatDuration((s.endedAt ?? now) - s.startedAt)),
        h('td', { class: 'muted' }, s.clientAddr ?? '—'),
        h(
          'td',
          null,
          h(
            'a',
            { href: `/sessions/${s.sid}`, 'data-link': true, class: 'mono' },
            s.sid.slice(0, 14),
          ),
        ),
      ),
    ),
    { class: 'sessions-table' },
  );
}
