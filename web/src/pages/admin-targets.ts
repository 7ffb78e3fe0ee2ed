import { api, errorText } from '../api.js';
import { confirmDialog, formatTime, h, pill, render, showOnce, table } from '../dom.js';
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

interface TargetRow {
  name: string;
  kind: 'ssh' | 'postgres' | 'mysql';
  host: string;
  port: number;
  username: string;
  database: string | null;
  labels: Record<string, string>;
  options: Record<string, boolean | number>;
  hostKey: { type: string; fingerprint: string } | null;
  createdAt: number;
}
interface CredentialRow {
  version: number;
  kind: string;
  status: string;
  kms: string;
  keyId: string;
  createdAt: number;
  createdBy: string;
  fingerprint: string | null;
}

/** Targets: add, trust the host key (scan, compare, pin), credentials (set, generate, rotate; never shown), remove. */
export async function targetsSection(ctx: AdminContext): Promise<void> {
  const { targets } = await api<{ targets: TargetRow[] }>('GET', '/api/admin/targets');
  const status = h('div');
  const detail = h('div');
  const act = sectionAct(ctx, status);
  const trust = async (t: TargetRow): Promise<void> => {
    try {
      const key = await api<{ type: string; fingerprint: string; line: string }>(
        'POST',
        `/api/admin/targets/${t.name}/host-key/scan`,
        {},
      );
      const ok = await confirmDialog(
        `Trust the host key of ${t.name}?`,
        [
          h(
            'p',
            null,
            `${t.host}:${t.port} presented this ${key.type} key. Compare the fingerprint with the server's own (`,
            h('code', null, 'ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub'),
            ') before trusting it.',
          ),
          h('div', { class: 'secret-box' }, h('code', { class: 'fingerprint' }, key.fingerprint)),
          t.hostKey === null
            ? null
            : h(
                'p',
                { class: 'alert alert-warn' },
                `This replaces the pinned key ${t.hostKey.fingerprint}.`,
              ),
        ],
        { confirm: 'Trust this key' },
      );
      if (ok)
        await act(
          () =>
            api('PUT', `/api/admin/targets/${t.name}/host-key`, {
              line: key.line,
              fingerprint: key.fingerprint,
            }),
          `Pinned ${key.fingerprint} for ${t.name}.`,
        );
    } catch (err) {
      flash(status, errorText(err), 'bad');
    }
  };
  const credentials = async (t: TargetRow): Promise<void> => {
    const { credentials: versions } = await api<{ credentials: CredentialRow[] }>(
      'GET',
      `/api/admin/targets/${t.name}/credentials`,
    );
    showDetail(
      detail,
      `credentials-${t.name}`,
      `Credentials of ${t.name}`,
      h(
        'p',
        { class: 'muted' },
        'Stored encrypted under the KMS and never displayed; sessions lease them through the gateway.',
      ),
      table(
        ['Version', 'Kind', 'Status', 'KMS key', 'Fingerprint', 'Created', 'By'],
        versions.map((c) => [
          `v${c.version}`,
          c.kind,
          pill(c.status, c.status === 'active' ? 'ok' : 'muted'),
          `${c.kms} ${c.keyId}`,
          h('span', { class: 'mono small' }, c.fingerprint ?? '—'),
          formatTime(c.createdAt),
          c.createdBy,
        ]),
      ),
      !ctx.canWrite
        ? null
        : t.kind === 'ssh'
          ? h(
              'div',
              null,
              h('h4', null, 'New version'),
              h(
                'button',
                {
                  class: 'btn btn-ghost',
                  type: 'button',
                  onclick: () =>
                    void api<{ publicKey: string | null }>(
                      'POST',
                      `/api/admin/targets/${t.name}/credentials`,
                      { kind: 'generate-ssh-key' },
                    )
                      .then((r) =>
                        showOnce(
                          'New SSH key generated',
                          `Add this public key to ~${t.username}/.ssh/authorized_keys on ${t.host}. The private key stays sealed in Gatehouse.`,
                          r.publicKey ?? '',
                        ),
                      )
                      .then(() => credentials(t))
                      .catch((err: unknown) => flash(status, errorText(err), 'bad')),
                },
                'Generate a new ed25519 key',
              ),
              actionForm(
                [
                  [
                    'privateKey',
                    'Or paste an unencrypted private key',
                    '-----BEGIN OPENSSH PRIVATE KEY-----',
                    'textarea',
                  ],
                ],
                'Store private key',
                (v) =>
                  act(
                    () =>
                      api('POST', `/api/admin/targets/${t.name}/credentials`, {
                        kind: 'ssh-key',
                        privateKey: v['privateKey'],
                      }),
                    'Private key stored.',
                  ),
              ),
            )
          : h(
              'div',
              null,
              h('h4', null, 'New version'),
              actionForm(
                [['password', `Password of ${t.username}`, '', 'password']],
                'Store password',
                (v) =>
                  act(
                    () =>
                      api('POST', `/api/admin/targets/${t.name}/credentials`, {
                        kind: 'password',
                        password: v['password'],
                      }),
                    'Password stored.',
                  ),
              ),
              h(
                'button',
                {
                  class: 'btn btn-ghost',
                  type: 'button',
                  onclick: () =>
                    void act(
                      () => api('POST', `/api/admin/targets/${t.name}/credentials/rotate`),
                      `Rotated the password of ${t.name}.`,
                    ),
                },
                'Rotate now (set a random password on the database)',
              ),
            ),
    );
  };
  render(
    ctx.el,
    status,
    addCard(ctx, 'Add a target', () =>
      actionForm(
        [
          ['name', 'Name', 'web-1'],
          ['kind', 'Kind', '', 'select:ssh=SSH,postgres=PostgreSQL,mysql=MySQL'],
          ['host', 'Host', '10.0.0.5'],
          ['port', 'Port', '22'],
          ['username', 'Leased account', 'deploy'],
          ['database', 'Database (optional)', 'app'],
          ['labels', 'Labels (k=v, comma-separated)', 'env=prod'],
        ],
        'Add target',
        (v) => {
          const labels: Record<string, string> = {};
          for (const pair of (v['labels'] ?? '')
            .split(',')
            .map((p) => p.trim())
            .filter((p) => p !== '')) {
            const at = pair.indexOf('=');
            labels[pair.slice(0, at)] = pair.slice(at + 1);
          }
          return act(
            () =>
              api('POST', '/api/admin/targets', {
                name: v['name'],
                kind: v['kind'],
                host: v['host'],
                port: Number(v['port']),
                username: v['username'],
                ...(v['database'] === '' ? {} : { database: v['database'] }),
                labels,
              }),
            `Added ${v['name'] ?? ''}.`,
          );
        },
      ),
    ),
    listCard(
      table(
        ['Target', 'Kind', 'Address', 'Account', 'Labels', 'Host key', ''],
        targets.map((t) => [
          h('strong', null, t.name),
          t.kind,
          `${t.host}:${t.port}`,
          t.database === null ? t.username : `${t.username} / ${t.database}`,
          Object.entries(t.labels).map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`)),
          t.kind !== 'ssh'
            ? '—'
            : t.hostKey === null
              ? pill(
                  t.options['trustOnFirstUse'] === true ? 'trust on first use' : 'not pinned',
                  'warn',
                )
              : h(
                  'span',
                  { class: 'mono small', title: t.hostKey.type },
                  t.hostKey.fingerprint.slice(0, 22) + '…',
                ),
          h(
            'div',
            { class: 'row-actions' },
            smallButton('Credentials', () => void credentials(t)),
            ctx.canWrite && t.kind === 'ssh'
              ? smallButton('Trust host key', () => void trust(t))
              : null,
            ctx.canWrite
              ? smallButton(
                  'Remove',
                  () =>
                    confirmThen(
                      `Remove ${t.name}?`,
                      'The target and its stored credentials are deleted. Past sessions and audit events stay.',
                      'Remove',
                      () =>
                        act(
                          () => api('DELETE', `/api/admin/targets/${t.name}`),
                          `Removed ${t.name}.`,
                        ),
                    ),
                  { danger: true },
                )
              : null,
          ),
        ]),
      ),
    ),
    detail,
  );
}
