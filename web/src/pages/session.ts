import * as AsciinemaPlayer from 'asciinema-player';
import { api, errorText, queryString } from '../api.js';
import { can, type Page } from '../app.js';
import {
  confirmDialog,
  formatBytes,
  formatDuration,
  formatTime,
  h,
  pill,
  render,
  table,
} from '../dom.js';
import type { AuditEvent, SessionDetail } from '../types.js';
import { statusPill } from './common.js';
import { transcriptSection } from './transcript.js';

interface Marker {
  readonly index: number;
  readonly time: number;
  readonly label: string;
}

/**
 * One session: the replay (or the live view while it runs) with its command markers, the
 * command list that jumps the player, file transfers, the database transcript, the audit trail.
 */
export const sessionPage: Page = async ({ root, me, params }) => {
  const sid = params['sid'] ?? '';
  const detail = await api<SessionDetail>('GET', `/api/sessions/${sid}`);
  const s = detail.session;
  const isLive = s.status === 'active';
  let player: AsciinemaPlayer.Player | undefined;
  let refreshTimer: ReturnType<typeof setTimeout> | undefined;

  const playerEl = h('div', { class: 'player', id: 'player' });
  const commandsEl = h('div', { class: 'commands-list' });
  const channelTabs = h('div', { class: 'tabs' });
  const notice = h('div', { class: 'player-notice' });
  const terminate =
    isLive && can(me, 'sessions.terminate')
      ? h(
          'button',
          {
            class: 'btn btn-danger',
            type: 'button',
            id: 'terminate',
            onclick: () => {
              void confirmDialog(
                'Terminate this session?',
                h(
                  'p',
                  null,
                  `${s.user}'s session on ${s.target} ends within a second. The termination is recorded in the audit log.`,
                ),
                { confirm: 'Terminate', danger: true },
              ).then(async (ok) => {
                if (!ok) return;
                try {
                  await api('POST', `/api/sessions/${sid}/terminate`, {
                    reason: `terminated by ${me.name} from the web console`,
                  });
                  render(
                    notice,
                    h(
                      'div',
                      { class: 'alert alert-warn' },
                      'Termination requested: the session ends within a second.',
                    ),
                  );
                } catch (err) {
                  render(notice, h('div', { class: 'alert alert-bad' }, errorText(err)));
                }
              });
            },
          },
          'Terminate session',
        )
      : null;

  const meta = (label: string, value: Node | string): HTMLElement =>
    h(
      'div',
      { class: 'meta-item' },
      h('div', { class: 'meta-label' }, label),
      h('div', { class: 'meta-value' }, value),
    );
  render(
    root,
    h(
      'header',
      { class: 'page-head page-head-row' },
      h(
        'div',
        null,
        h('a', { href: '/sessions', 'data-link': true, class: 'back' }, '← Sessions'),
        h('h1', null, `${s.user} → ${s.target}`, ' ', statusPill(s.status)),
      ),
      terminate,
    ),
    h(
      'div',
      { class: 'card meta-grid' },
      meta('Session', h('span', { class: 'mono' }, s.sid)),
      meta('Kind', s.kind),
      meta('Started', formatTime(s.startedAt)),
      meta(
        isLive ? 'Running for' : 'Ended',
        isLive ? formatDuration(Date.now() - s.startedAt) : formatTime(s.endedAt),
      ),
      meta('Duration', formatDuration((s.endedAt ?? Date.now()) - s.startedAt)),
      meta('Client', s.clientAddr ?? '—'),
      meta('Gateway', h('span', { class: 'mono' }, s.gatewayId)),
      meta(
        'Recording SHA-256',
        sha256s(s.recordingSha256).length === 0
          ? isLive
            ? 'when it ends'
            : '—'
          : h(
              'span',
              { class: 'mono small', title: sha256s(s.recordingSha256).join('\n') },
              `${sha256s(s.recordingSha256)[0]?.slice(0, 16) ?? ''}…`,
            ),
      ),
    ),
    notice,
    detail.recordings.length === 0
      ? null
      : h(
          'div',
          { class: 'replay' },
          h('div', { class: 'card card-flush replay-main' }, channelTabs, playerEl),
          h(
            'aside',
            { class: 'card replay-side' },
            h('h3', null, 'Commands'),
            h('p', { class: 'muted small' }, 'Click one to jump there.'),
            commandsEl,
          ),
        ),
    detail.recordings.length === 0 && s.kind === 'ssh'
      ? h(
          'div',
          { class: 'card muted' },
          isLive
            ? 'No terminal yet: waiting for a shell or command channel.'
            : 'This session has no terminal recording (file transfer or port forwarding only).',
        )
      : null,
    transfersSection(detail.transfers),
    detail.hasTranscript ? await transcriptSection(sid) : null,
    commandsFromAudit(detail),
    eventsSection(detail.events),
  );

  const openChannel = async (channel: number): Promise<void> => {
    player?.dispose();
    player = undefined;
    render(
      channelTabs,
      detail.recordings.length > 1
        ? detail.recordings.map((r) =>
            h(
              'button',
              {
                type: 'button',
                class: r.channel === channel ? 'tab active' : 'tab',
                onclick: () => void openChannel(r.channel),
              },
              `Channel ${r.channel}`,
            ),
          )
        : null,
    );
    if (isLive) {
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      const url = `${scheme}://${location.host}/api/sessions/${sid}/live${queryString({ channel })}`;
      const source = {
        driver: 'websocket',
        url,
        bufferTime: 0,
      } as unknown as AsciinemaPlayer.Source;
      player = AsciinemaPlayer.create(source, playerEl, {
        autoPlay: true,
        fit: 'width',
        terminalFontSize: '14px',
        controls: true,
      });
      render(
        commandsEl,
        h(
          'p',
          { class: 'muted small' },
          'Live: commands appear in the list when the session ends.',
        ),
      );
      // When the session ends, show the final record.
      const poll = async (): Promise<void> => {
        const now = await api<SessionDetail>('GET', `/api/sessions/${sid}`).catch(() => undefined);
        if (now !== undefined && now.session.status !== 'active') {
          render(
            notice,
            h(
              'div',
              { class: 'alert alert-info', id: 'ended-notice' },
              `The session ended (${now.session.status}).`,
              ' ',
              h('a', { href: `/sessions/${sid}`, 'data-link': true }, 'Open the replay'),
            ),
          );
          terminate?.remove();
          return;
        }
        refreshTimer = setTimeout(() => void poll(), 2_000);
      };
      refreshTimer = setTimeout(() => void poll(), 2_000);
      return;
    }
    const res = await fetch(`/api/sessions/${sid}/recordings/${channel}`, {
      credentials: 'same-origin',
    });
    if (!res.ok) {
      render(
        playerEl,
        h('div', { class: 'alert alert-bad' }, `The recording cannot be loaded (${res.status}).`),
      );
      return;
    }
    const cast = await res.text();
    const markers = markersOf(cast);
    player = AsciinemaPlayer.create({ data: cast }, playerEl, {
      fit: 'width',
      idleTimeLimit: 2,
      terminalFontSize: '14px',
      preload: true,
      controls: true,
    });
    const created = player;
    render(
      commandsEl,
      markers.length === 0
        ? h('p', { class: 'muted small' }, 'No commands were marked in this recording.')
        : h(
            'ol',
            { class: 'command-markers' },
            markers.map((m) =>
              h(
                'li',
                null,
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'marker',
                    'data-marker': m.index,
                    onclick: () => {
                      void created.seek({ marker: m.index }).then(() => created.play());
                    },
                  },
                  h('span', { class: 'marker-time' }, formatClock(m.time)),
                  h('code', null, m.label),
                ),
              ),
            ),
          ),
    );
  };
  const first = detail.recordings[0];
  if (first !== undefined) await openChannel(first.channel);
  return () => {
    clearTimeout(refreshTimer);
    player?.dispose();
  };
};

/** The SHA-256 digests of the session's recordings (the column holds one, or a JSON array of them). */
function sha256s(column: string | null): string[] {
  if (column === null || column === '') return [];
  try {
    const parsed: unknown = JSON.parse(column);
    return Array.isArray(parsed)
      ? parsed.filter((x): x is string => typeof x === 'string')
      : [column];
  } catch {
    return [column];
  }
}

/** Markers (`m` events) of an asciicast v3 recording, with their time from the start. */
function markersOf(cast: string): Marker[] {
  const out: Marker[] = [];
  let time = 0;
  let isHeader = true;
  for (const line of cast.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    if (isHeader) {
      isHeader = false;
      continue;
    }
    try {
      const [interval, code, data] = JSON.parse(line) as [number, string, unknown];
      time += interval;
      if (code === 'm')
        out.push({ index: out.length, time, label: typeof data === 'string' ? data : '' });
    } catch {
      // A damaged line: the player reports it.
    }
  }
  return out;
}

function formatClock(seconds: number): string {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function transfersSection(events: AuditEvent[]): HTMLElement | null {
  if (events.length === 0) return null;
  const describe = (e: AuditEvent): [string, string, string] => {
    const d = e.data;
    const path =
      typeof d['path'] === 'string'
        ? d['path']
        : typeof d['command'] === 'string'
          ? d['command']
          : typeof d['from'] === 'string'
            ? `${String(d['from'])} → ${String(d['to'])}`
            : '';
    const bytes: string[] = [];
    if (typeof d['bytesWritten'] === 'number' && d['bytesWritten'] > 0)
      bytes.push(`↑ ${formatBytes(d['bytesWritten'])} uploaded`);
    if (typeof d['bytesRead'] === 'number' && d['bytesRead'] > 0)
      bytes.push(`↓ ${formatBytes(d['bytesRead'])} downloaded`);
    if (typeof d['bytesFromClient'] === 'number' && d['bytesFromClient'] > 0)
      bytes.push(`↑ ${formatBytes(d['bytesFromClient'])} from client`);
    if (typeof d['bytesToClient'] === 'number' && d['bytesToClient'] > 0)
      bytes.push(`↓ ${formatBytes(d['bytesToClient'])} to client`);
    const outcome =
      typeof d['status'] === 'string'
        ? d['status']
        : typeof d['ok'] === 'boolean'
          ? d['ok']
            ? 'ok'
            : 'failed'
          : '';
    return [path, bytes.join(', '), outcome];
  };
  return h(
    'section',
    { class: 'card card-flush', id: 'transfers' },
    h('h3', { class: 'card-title' }, 'File transfers and file operations'),
    table(
      ['Time', 'Operation', 'Path', 'Bytes', 'Outcome'],
      events.map((e) => {
        const [path, bytes, outcome] = describe(e);
        return [
          h('td', { class: 'nowrap' }, formatTime(e.time)),
          h('code', null, e.type),
          h('td', { class: 'mono break' }, path),
          bytes,
          outcome === '' ? '' : pill(outcome, /ok|success/i.test(outcome) ? 'ok' : 'bad'),
        ];
      }),
    ),
  );
}

function commandsFromAudit(detail: SessionDetail): HTMLElement | null {
  if (detail.commands.length === 0) return null;
  return h(
    'section',
    { class: 'card card-flush', id: 'audited-commands' },
    h('h3', { class: 'card-title' }, 'Commands in the audit log'),
    table(
      null,
      detail.commands.map((c) => [
        h('td', { class: 'nowrap' }, formatTime(c.time)),
        h('code', null, c.type),
        h('td', { class: 'mono break' }, c.command),
      ]),
    ),
  );
}

function eventsSection(events: AuditEvent[]): HTMLElement {
  return h(
    'details',
    { class: 'card card-flush' },
    h('summary', { class: 'card-title' }, `Audit trail of this session (${events.length} events)`),
    table(
      null,
      events.map((e) => [
        h('td', { class: 'muted' }, `#${e.seq}`),
        h('td', { class: 'nowrap' }, formatTime(e.time)),
        h('code', null, e.type),
        h('td', { class: 'mono break small' }, JSON.stringify(e.data)),
      ]),
      { empty: null },
    ),
  );
}
