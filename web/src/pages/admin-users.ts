import { api, errorText } from '../api.js';
import { formatTime, h, pill, render, showOnce, table } from '../dom.js';
import type { AdminContext } from './admin.js';
import {
  actionForm,
  addCard,
  confirmThen,
  flash,
  listCard,
  sectionAct,
  showDetail,
  smallButton,
} from './admin-kit.js';

interface UserRow {
  name: string;
  roles: string[];
  isDisabled: boolean;
  hasTotp: boolean;
  isLocked: boolean;
  lockedUntil: number | null;
  keyCount: number;
  createdAt: number;
}
interface RoleRow {
  name: string;
  description: string;
  isBuiltin: boolean;
  userCount: number;
}
interface TokenRow {
  id: string;
  expiresAt: number;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}
interface KeyRow {
  fingerprint: string;
  algo: string;
  comment: string;
  createdAt: number;
}

/** Users: add, keys, reset password, TOTP, disable/enable, roles, tokens. */
export async function usersSection(ctx: AdminContext): Promise<void> {
  const [{ users }, { roles }] = await Promise.all([
    api<{ users: UserRow[] }>('GET', '/api/admin/users'),
    api<{ roles: RoleRow[] }>('GET', '/api/admin/roles'),
  ]);
  const detail = h('div', { class: 'user-detail' });
  const status = h('div');
  const act = sectionAct(ctx, status);
  const userActions = (u: UserRow): HTMLElement | null =>
    !ctx.canWrite
      ? null
      : h(
          'div',
          { class: 'row-actions' },
          smallButton('Manage', () => void showUser(u)),
          u.name === ctx.page.me.name
            ? null
            : u.isDisabled
              ? smallButton(
                  'Enable',
                  () =>
                    void act(
                      () => api('POST', `/api/admin/users/${u.name}/enable`),
                      `Enabled ${u.name}.`,
                    ),
                )
              : smallButton(
                  'Disable',
                  () =>
                    confirmThen(
                      `Disable ${u.name}?`,
                      'Logins and new sessions are refused at once; console sessions end.',
                      'Disable',
                      () =>
                        act(
                          () => api('POST', `/api/admin/users/${u.name}/disable`),
                          `Disabled ${u.name}.`,
                        ),
                    ),
                  { danger: true },
                ),
        );
  const showUser = async (u: UserRow): Promise<void> => {
    const [{ keys }, { tokens }] = await Promise.all([
      api<{ keys: KeyRow[] }>('GET', `/api/admin/users/${u.name}/keys`),
      api<{ tokens: TokenRow[] }>('GET', `/api/admin/users/${u.name}/tokens`),
    ]);
    const roleBoxes = roles.map((r) =>
      h(
        'label',
        { class: 'check' },
        h('input', { type: 'checkbox', value: r.name, checked: u.roles.includes(r.name) }),
        r.name,
      ),
    );
    showDetail(
      detail,
      `user-${u.name}`,
      `Manage ${u.name}`,
      h('h4', null, 'SSH keys'),
      keys.length === 0
        ? h('p', { class: 'muted' }, 'No SSH key.')
        : table(
            ['Fingerprint', 'Type', 'Comment', 'Added', ''],
            keys.map((k) => [
              h('span', { class: 'mono small' }, k.fingerprint),
              k.algo,
              k.comment,
              formatTime(k.createdAt),
              smallButton(
                'Remove',
                () =>
                  void act(
                    () =>
                      api(
                        'DELETE',
                        `/api/admin/users/${u.name}/keys?fingerprint=${encodeURIComponent(k.fingerprint)}`,
                      ),
                    'Key removed.',
                  ),
                { danger: true },
              ),
            ]),
          ),
      actionForm(
        [['publicKey', 'Add an OpenSSH public key', 'ssh-ed25519 AAAA… alice@laptop', 'textarea']],
        'Add key',
        (v) =>
          act(
            () => api('POST', `/api/admin/users/${u.name}/keys`, { publicKey: v['publicKey'] }),
            'Key added.',
          ),
      ),
      h('h4', null, 'Password'),
      actionForm(
        [['password', 'New password', 'at least 12 characters', 'password']],
        'Reset password',
        (v) =>
          act(
            () => api('POST', `/api/admin/users/${u.name}/password`, { password: v['password'] }),
            `Password of ${u.name} changed; their console sessions ended.`,
          ),
      ),
      h('h4', null, 'Two-step verification (TOTP)'),
      h(
        'div',
        { class: 'row-actions' },
        h(
          'button',
          {
            class: 'btn btn-ghost',
            type: 'button',
            onclick: () =>
              void api<{ otpauthUri: string }>('POST', `/api/admin/users/${u.name}/totp`)
                .then((r) =>
                  showOnce(
                    'TOTP enrolled',
                    `Give this URI to ${u.name} (as a QR code or text) for their authenticator app. It is shown only now.`,
                    r.otpauthUri,
                  ),
                )
                .then(() => ctx.reload())
                .catch((err: unknown) => flash(status, errorText(err), 'bad')),
          },
          u.hasTotp ? 'Enrol a new TOTP secret' : 'Enrol TOTP',
        ),
        u.hasTotp
          ? h(
              'button',
              {
                class: 'btn btn-ghost-danger',
                type: 'button',
                onclick: () =>
                  void act(
                    () => api('DELETE', `/api/admin/users/${u.name}/totp`),
                    'TOTP turned off.',
                  ),
              },
              'Turn TOTP off',
            )
          : null,
      ),
      h('h4', null, 'Roles'),
      h('div', { class: 'checks' }, roleBoxes),
      h(
        'button',
        {
          class: 'btn btn-ghost',
          type: 'button',
          onclick: () =>
            void act(
              () =>
                api('PUT', `/api/admin/users/${u.name}/roles`, {
                  roles: roleBoxes
                    .map((l) => l.querySelector('input'))
                    .filter((i): i is HTMLInputElement => i?.checked === true)
                    .map((i) => i.value),
                }),
              'Roles saved.',
            ),
        },
        'Save roles',
      ),
      h('h4', null, 'Personal access tokens'),
      tokens.length === 0
        ? null
        : table(
            ['Token', 'Created', 'Expires', 'Last used', ''],
            tokens.map((t) => [
              h('span', { class: 'mono small' }, t.id),
              formatTime(t.createdAt),
              formatTime(t.expiresAt),
              formatTime(t.lastUsedAt),
              t.revokedAt !== null
                ? pill('revoked', 'bad')
                : t.expiresAt <= Date.now()
                  ? pill('expired')
                  : smallButton(
                      'Revoke',
                      () =>
                        void act(
                          () => api('DELETE', `/api/admin/tokens/${t.id}`),
                          'Token revoked.',
                        ),
                      { danger: true },
                    ),
            ]),
          ),
      h(
        'button',
        {
          class: 'btn btn-ghost',
          type: 'button',
          onclick: () =>
            void api<{ secret: string; expiresAt: number }>(
              'POST',
              `/api/admin/users/${u.name}/tokens`,
              { days: 30 },
            )
              .then((t) =>
                showOnce(
                  'Token created',
                  `A bearer token for ${u.name}, valid until ${formatTime(t.expiresAt)}. It is shown only now.`,
                  t.secret,
                ),
              )
              .catch((err: unknown) => flash(status, errorText(err), 'bad')),
        },
        'Create a 30-day token',
      ),
    );
  };
  render(
    ctx.el,
    status,
    addCard(ctx, 'Add a user', () =>
      actionForm(
        [
          ['name', 'Name', 'alice'],
          ['password', 'Password (optional)', '', 'password'],
          ['roles', 'Roles (comma-separated)', 'user'],
          ['sshKey', 'SSH public key (optional)', 'ssh-ed25519 AAAA…', 'textarea'],
        ],
        'Add user',
        (v) =>
          act(
            () =>
              api('POST', '/api/admin/users', {
                name: v['name'],
                ...(v['password'] === '' ? {} : { password: v['password'] }),
                roles: (v['roles'] ?? '')
                  .split(',')
                  .map((r) => r.trim())
                  .filter((r) => r !== ''),
                sshKeys: v['sshKey'] === '' ? [] : [v['sshKey']],
              }),
            `Added ${v['name'] ?? ''}.`,
          ),
      ),
    ),
    listCard(
      table(
        ['User', 'Roles', 'Status', 'TOTP', 'Keys', 'Created', ''],
        users.map((u) => [
          h('strong', null, u.name),
          u.roles.map((r) => h('span', { class: 'label' }, r)),
          u.isDisabled
            ? pill('disabled', 'bad')
            : u.isLocked
              ? pill(`locked until ${formatTime(u.lockedUntil)}`, 'warn')
              : pill('active', 'ok'),
          u.hasTotp ? pill('on', 'ok') : pill('off'),
          String(u.keyCount),
          formatTime(u.createdAt),
          userActions(u),
        ]),
      ),
    ),
    detail,
  );
}

/** Roles: the built-in ones and custom ones (names to grant targets to). */
export async function rolesSection(ctx: AdminContext): Promise<void> {
  const { roles } = await api<{ roles: RoleRow[] }>('GET', '/api/admin/roles');
  const status = h('div');
  const act = sectionAct(ctx, status);
  render(
    ctx.el,
    h(
      'div',
      { class: 'card muted' },
      'Built-in roles: ',
      h('strong', null, 'admin'),
      ' changes everything, ',
      h('strong', null, 'auditor'),
      ' reads everything and changes nothing, ',
      h('strong', null, 'user'),
      ' sees their own access and sessions. Custom roles give no console rights: grant targets to them with @role.',
    ),
    status,
    addCard(ctx, 'Add a role', () =>
      actionForm(
        [
          ['name', 'Name', 'dba'],
          ['description', 'Description', 'database administrators'],
        ],
        'Add role',
        (v) =>
          act(() =>
            api('POST', '/api/admin/roles', {
              name: v['name'],
              description: v['description'] ?? '',
            }),
          ),
      ),
    ),
    listCard(
      table(
        ['Role', 'Description', 'Kind', 'Users'],
        roles.map((r) => [
          h('strong', null, r.name),
          r.description,
          r.isBuiltin ? pill('built-in', 'info') : pill('custom'),
          String(r.userCount),
        ]),
      ),
    ),
  );
}
