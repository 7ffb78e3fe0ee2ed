import { can, type Page, type PageContext } from '../app.js';
import { h, render } from '../dom.js';
import { grantsSection, gatewaysSection } from './admin-grants.js';
import { targetsSection } from './admin-targets.js';
import { rolesSection, usersSection } from './admin-users.js';

const SECTIONS: [string, string, (ctx: AdminContext) => Promise<void>][] = [
  ['users', 'Users', usersSection],
  ['roles', 'Roles', rolesSection],
  ['targets', 'Targets', targetsSection],
  ['grants', 'Grants', grantsSection],
  ['gateways', 'Gateways', gatewaysSection],
];

/** What an admin section gets: where to draw and whether it may change things. */
export interface AdminContext {
  readonly el: HTMLElement;
  readonly canWrite: boolean;
  readonly page: PageContext;
  /** Draws the section again (after a change). */
  reload(): Promise<void>;
}

/** Admin: users, roles, targets (host keys, credentials), grants, gateways. Auditors see it read-only. */
export const adminPage: Page = async (ctx) => {
  const current = ctx.params['section'] ?? 'users';
  const section = SECTIONS.find(([key]) => key === current) ?? SECTIONS[0];
  if (section === undefined) return;
  const canWrite = can(ctx.me, 'admin.write');
  const el = h('div', { class: 'admin-section' });
  render(
    ctx.root,
    h(
      'header',
      { class: 'page-head' },
      h('h1', null, 'Admin'),
      canWrite
        ? null
        : h(
            'p',
            { class: 'muted' },
            'Read-only: your role can see the configuration but not change it.',
          ),
    ),
    h(
      'div',
      { class: 'tabs tabs-page' },
      SECTIONS.map(([key, label]) =>
        h(
          'a',
          {
            href: `/admin/${key}`,
            'data-link': true,
            class: key === section[0] ? 'tab active' : 'tab',
          },
          label,
        ),
      ),
    ),
    el,
  );
  const admin: AdminContext = { el, canWrite, page: ctx, reload: () => section[2](admin) };
  await section[2](admin);
};
