import 'asciinema-player/dist/bundle/asciinema-player.css';
import './styles.css';
import { api, setSession, setUnauthorizedHandler, type Me } from './api.js';
import { can, type Page } from './app.js';
import { brandMark, h, render } from './dom.js';
import { accessPage } from './pages/access.js';
import { adminPage } from './pages/admin.js';
import { auditPage } from './pages/audit.js';
import { loginPage } from './pages/login.js';
import { sessionPage } from './pages/session.js';
import { sessionsPage } from './pages/sessions.js';

interface RouteDef {
  readonly pattern: RegExp;
  readonly keys: readonly string[];
  readonly page: Page;
  readonly nav: string;
}

const ROUTES: readonly RouteDef[] = [
  { pattern: /^\/access$/, keys: [], page: accessPage, nav: '/access' },
  { pattern: /^\/sessions$/, keys: [], page: sessionsPage, nav: '/sessions' },
  { pattern: /^\/sessions\/([A-Za-z0-9_-]+)$/, keys: ['sid'], page: sessionPage, nav: '/sessions' },
  { pattern: /^\/audit$/, keys: [], page: auditPage, nav: '/audit' },
  { pattern: /^\/admin(?:\/([a-z]+))?$/, keys: ['section'], page: adminPage, nav: '/admin' },
];

const appEl = document.getElementById('app') ?? document.body;
let me: Me | undefined;
let cleanup: (() => void) | undefined;

function navigate(path: string): void {
  if (path !== location.pathname + location.search) history.pushState(null, '', path);
  void show();
}

async function loadMe(): Promise<Me | undefined> {
  try {
    return await api<Me>('GET', '/api/auth/me');
  } catch {
    return undefined;
  }
}

async function show(): Promise<void> {
  cleanup?.();
  cleanup = undefined;
  me ??= await loadMe();
  setSession(me);
  const path = location.pathname;
  if (me === undefined) {
    if (path !== '/login')
      history.replaceState(
        null,
        '',
        `/login${path === '/' ? '' : `?next=${encodeURIComponent(path + location.search)}`}`,
      );
    await loginPage(appEl, (signedIn) => {
      me = signedIn;
      const next = new URLSearchParams(location.search).get('next');
      navigate(next !== null && next.startsWith('/') && !next.startsWith('//') ? next : '/access');
    });
    return;
  }
  if (path === '/' || path === '/login') {
    history.replaceState(null, '', '/access');
    return show();
  }
  const content = h('main', { class: 'content' });
  render(appEl, h('div', { class: 'shell' }, sidebar(me, path), content));
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m !== null);
  if (match === undefined || match.m === null) {
    render(
      content,
      h(
        'div',
        { class: 'empty' },
        h('h2', null, 'Not found'),
        h('p', null, 'There is no page here.'),
      ),
    );
    return;
  }
  const params: Record<string, string> = {};
  match.r.keys.forEach((k, i) => {
    const v = match.m?.[i + 1];
    if (v !== undefined) params[k] = v;
  });
  try {
    const done = await match.r.page({
      root: content,
      me,
      params,
      query: new URLSearchParams(location.search),
      navigate,
    });
    cleanup = done ?? undefined;
  } catch (err) {
    render(
      content,
      h('div', { class: 'alert alert-bad' }, err instanceof Error ? err.message : String(err)),
    );
  }
}

function sidebar(user: Me, path: string): HTMLElement {
  const items: [string, string, boolean][] = [
    ['/access', 'My access', true],
    ['/sessions', can(user, 'sessions.read') ? 'Sessions' : 'My sessions', true],
    ['/audit', 'Audit log', can(user, 'audit.read')],
    ['/admin', 'Admin', can(user, 'admin.read')],
  ];
  const link = (href: string, label: string): HTMLElement =>
    h(
      'a',
      {
        href,
        class: path === href || path.startsWith(`${href}/`) ? 'nav-link active' : 'nav-link',
        onclick: (e: Event) => {
          e.preventDefault();
          navigate(href);
        },
      },
      label,
    );
  return h(
    'nav',
    { class: 'sidebar' },
    h('div', { class: 'brand' }, brandMark(), 'Gatehouse'),
    h(
      'div',
      { class: 'nav' },
      items.filter(([, , ok]) => ok).map(([href, label]) => link(href, label)),
    ),
    h(
      'div',
      { class: 'whoami' },
      h('div', { class: 'whoami-name' }, user.name),
      h('div', { class: 'whoami-roles' }, user.roles.join(' · ')),
      h(
        'button',
        {
          class: 'btn btn-small btn-ghost-dark',
          type: 'button',
          onclick: () => {
            void api('POST', '/api/auth/logout').finally(() => {
              me = undefined;
              setSession(undefined);
              navigate('/login');
            });
          },
        },
        'Sign out',
      ),
    ),
  );
}

setUnauthorizedHandler(() => {
  me = undefined;
  navigate(`/login?next=${encodeURIComponent(location.pathname)}`);
});
window.addEventListener('popstate', () => void show());
// Links inside pages use data-link for client-side navigation.
document.addEventListener('click', (e) => {
  const a = (e.target as Element | null)?.closest?.('a[data-link]');
  if (a instanceof HTMLAnchorElement && e.button === 0 && !e.metaKey && !e.ctrlKey) {
    e.preventDefault();
    navigate(a.getAttribute('href') ?? '/');
  }
});
void show();
