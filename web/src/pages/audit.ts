import { api, errorText, queryString } from '../api.js';
import type { Page } from '../app.js';
import { formatTime, h, pill, render, table } from '../dom.js';
import type { AuditEvent } from '../types.js';
import { filterForm } from './common.js';

interface VerifyReport {
  ok: boolean;
  checkedAt: number;
  eventCount: number;
  lastSeq: number;
  checkpointCount: number;
  sinkCheckpointCount: number;
  coveredUpToSeq: number;
  firstBadSeq?: number;
  problems: { kind: string; seq?: number; message: string }[];
  omittedProblemCount: number;
}
interface Checkpoint {
  seq: number;
  hash: string;
  time: number;
  keyId: string;
  signature: string;
}

const PAGE_SIZE = 100;

/** Audit log: the chain's verification, its signed checkpoints and the events. */
export const auditPage: Page = async ({ root, query, navigate }) => {
  const verifyEl = h(
    'div',
    { class: 'card', id: 'verify' },
    h('p', { class: 'muted' }, 'Verifying the audit chain…'),
  );
  const checkpointsEl = h('div', { class: 'table-wrap' });
  const eventsEl = h('div', { class: 'table-wrap' });
  const moreEl = h('div', { class: 'more' });
  const filter = (name: string, label: string, placeholder: string): HTMLElement =>
    h('label', null, label, h('input', { name, value: query.get(name) ?? '', placeholder }));
  const form = filterForm(
    [
      filter('type', 'Type', 'e.g. session.start or admin.'),
      filter('user', 'User', 'any'),
      filter('target', 'Target', 'any'),
      filter('sid', 'Session', 'any'),
    ],
    { path: '/audit', navigate },
  );
  render(
    root,
    h(
      'header',
      { class: 'page-head' },
      h('h1', null, 'Audit log'),
      h(
        'p',
        { class: 'muted' },
        'Every login, change, unlock and session, in a SHA-256 hash chain with signed checkpoints copied to an external sink.',
      ),
    ),
    verifyEl,
    h('div', { class: 'card' }, form),
    h(
      'section',
      { class: 'card card-flush' },
      h('h3', { class: 'card-title' }, 'Events'),
      eventsEl,
      moreEl,
    ),
    h(
      'details',
      { class: 'card card-flush', id: 'checkpoints' },
      h('summary', { class: 'card-title' }, 'Signed checkpoints'),
      checkpointsEl,
    ),
  );

  const runVerify = async (): Promise<void> => {
    render(verifyEl, h('p', { class: 'muted' }, 'Verifying the audit chain…'));
    try {
      const r = await api<VerifyReport>('GET', '/api/audit/verify');
      render(
        verifyEl,
        h(
          'div',
          { class: `verify ${r.ok ? 'verify-ok' : 'verify-bad'}` },
          h('div', { class: 'verify-icon' }, r.ok ? '✓' : '✗'),
          h(
            'div',
            { class: 'verify-text' },
            h(
              'h3',
              null,
              r.ok
                ? 'The audit chain verifies'
                : `The audit chain does NOT verify${r.firstBadSeq === undefined ? '' : ` from event #${r.firstBadSeq}`}`,
            ),
            h(
              'p',
              { class: 'muted' },
              `${r.eventCount} events, last #${r.lastSeq}; ${r.checkpointCount} signed checkpoints (${r.sinkCheckpointCount} in the external sink); signed up to #${r.coveredUpToSeq}. Checked ${formatTime(r.checkedAt)}.`,
            ),
            r.problems.length === 0
              ? null
              : h(
                  'ul',
                  { class: 'problems' },
                  r.problems
                    .slice(0, 20)
                    .map((p) =>
                      h(
                        'li',
                        null,
                        h('code', null, p.kind),
                        p.seq === undefined ? ' ' : ` #${p.seq} `,
                        p.message,
                      ),
                    ),
                ),
          ),
          h(
            'button',
            { class: 'btn btn-ghost', type: 'button', onclick: () => void runVerify() },
            'Verify again',
          ),
        ),
      );
    } catch (err) {
      render(verifyEl, h('div', { class: 'alert alert-bad' }, errorText(err)));
    }
  };

  const events: AuditEvent[] = [];
  const loadEvents = async (beforeSeq?: number): Promise<void> => {
    const res = await api<{ events: AuditEvent[]; hasMore: boolean }>(
      'GET',
      `/api/audit/events${queryString({ type: query.get('type'), user: query.get('user'), target: query.get('target'), sid: query.get('sid'), beforeSeq, limit: PAGE_SIZE })}`,
    );
    events.push(...res.events);
    render(eventsEl, eventsTable(events));
    const last = events.at(-1);
    render(
      moreEl,
      res.hasMore && last !== undefined
        ? h(
            'button',
            { class: 'btn btn-ghost', type: 'button', onclick: () => void loadEvents(last.seq) },
            'Load older events',
          )
        : null,
    );
  };
  const loadCheckpoints = async (): Promise<void> => {
    const res = await api<{ checkpoints: Checkpoint[] }>('GET', '/api/audit/checkpoints?limit=50');
    render(
      checkpointsEl,
      table(
        ['Seq', 'Time', 'Hash', 'Key', 'Signature'],
        res.checkpoints.map((c) => [
          `#${c.seq}`,
          h('td', { class: 'nowrap' }, formatTime(c.time)),
          h('td', { class: 'mono small', title: c.hash }, `${c.hash.slice(0, 24)}…`),
          h('td', { class: 'mono small' }, c.keyId),
          h('td', { class: 'mono small', title: c.signature }, `${c.signature.slice(0, 24)}…`),
        ]),
        { empty: 'No checkpoint yet.' },
      ),
    );
  };
  await Promise.all([loadEvents(), loadCheckpoints(), runVerify()]);
};

function eventsTable(events: AuditEvent[]): HTMLElement {
  const tone = (type: string): 'ok' | 'warn' | 'bad' | 'info' | 'muted' =>
    /failure|denied|lockout|mismatch|desync|anomaly|rotate_failed/.test(type)
      ? 'bad'
      : type.startsWith('admin.') || type.startsWith('grant.')
        ? 'warn'
        : type.startsWith('session.')
          ? 'info'
          : 'muted';
  return table(
    ['Seq', 'Time', 'Type', 'User', 'Target', 'Session', 'Details'],
    events.map((e) => [
      h('td', { class: 'muted' }, `#${e.seq}`),
      h('td', { class: 'nowrap' }, formatTime(e.time)),
      pill(e.type, tone(e.type)),
      e.user ?? '',
      e.target ?? '',
      e.sid === null
        ? ''
        : h(
            'a',
            { href: `/sessions/${e.sid}`, 'data-link': true, class: 'mono small' },
            e.sid.slice(0, 12),
          ),
      h(
        'td',
        { class: 'mono small break' },
        Object.keys(e.data).length === 0 ? '' : JSON.stringify(e.data),
      ),
    ]),
    { class: 'audit-table', empty: 'No event matches.' },
  );
}
