import { api } from '../api.js';
import type { Page } from '../app.js';
import { copyButton, formatTime, h, pill, relative, render } from '../dom.js';
import type { AccessTarget } from '../types.js';

/** My access: what I may reach now, until when, and the commands to do it. */
export const accessPage: Page = async ({ root, me }) => {
  const data = await api<{ bastionHost: string; targets: AccessTarget[] }>('GET', '/api/me/access');
  const cards = data.targets.map((t) =>
    h(
      'section',
      { class: 'card target-card', 'data-target': t.name },
      h(
        'div',
        { class: 'card-head' },
        h(
          'div',
          null,
          h('h3', null, t.name),
          h(
            'div',
            { class: 'muted small' },
            kindLabel(t),
            Object.entries(t.labels).map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`)),
          ),
        ),
        t.expiresAt === null
          ? pill('until revoked', 'info')
          : h(
              'div',
              { class: 'expiry', title: formatTime(t.expiresAt) },
              pill(
                `expires ${relative(t.expiresAt)}`,
                t.expiresAt - Date.now() < 3_600_000 ? 'warn' : 'ok',
              ),
            ),
      ),
      t.commands.length === 0
        ? h('p', { class: 'muted' }, `The ${t.kind} front end is not enabled on this bastion.`)
        : h(
            'div',
            { class: 'commands' },
            t.commands.map((c) =>
              h(
                'div',
                { class: 'command-row' },
                h('div', { class: 'command-label' }, c.label),
                h('code', { class: 'command' }, c.command),
                copyButton(c.command),
              ),
            ),
          ),
    ),
  );
  render(
    root,
    h(
      'header',
      { class: 'page-head' },
      h('h1', null, 'My access'),
      h(
        'p',
        { class: 'muted' },
        `What ${me.name} may reach through ${data.bastionHost} right now. Credentials stay with Gatehouse: you connect as yourself.`,
      ),
    ),
    cards.length === 0
      ? h(
          'div',
          { class: 'empty card' },
          h('h3', null, 'No access right now'),
          h('p', { class: 'muted' }, 'Ask an administrator for a grant on the target you need.'),
        )
      : h('div', { class: 'stack' }, cards),
  );
};

function kindLabel(t: AccessTarget): string {
  const kind = { ssh: 'SSH server', postgres: 'PostgreSQL', mysql: 'MySQL' }[t.kind] ?? t.kind;
  return t.database === null ? `${kind} ` : `${kind} · database ${t.database} `;
}
