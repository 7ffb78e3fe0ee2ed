import { api, errorText } from '../api.js';
import { formatTime, h, pill, relative, render, showOnce, table } from '../dom.js';
import type { AdminContext } from './admin.js';
import {
  actionForm,
  addCard,
  confirmThen,
  flash,
  listCard,
  sectionAct,
  smallButton,
} from './admin-kit.js';

interface GrantRow {
  id: string;
  subject: string;
  scope: string;
  expiresAt: number | null;
  reason: string | null;
  createdBy: string;
  createdAt: number;
  revokedAt: number | null;
  revokedBy: string | null;
  isActive: boolean;
}
interface GatewayRow {
  id: string;
  name: string;
  status: string;
  signKeyId: string;
  enrolledAt: number;
  revokedAt: number | null;
}

const DURATIONS =
  'select:60=1 hour,15=15 minutes,240=4 hours,480=8 hours,1440=1 day,10080=7 days,43200=30 days,=until revoked';

/** Grants: for a duration, revoke; the history with "show all". */
export async function grantsSection(ctx: AdminContext): Promise<void> {
  const showAll = ctx.page.query.get('all') === 'true';
  const { grants } = await api<{ grants: GrantRow[] }>('GET', `/api/admin/grants?all=${showAll}`);
  const status = h('div');
  const act = sectionAct(ctx, status);
  render(
    ctx.el,
    status,
    ctx.canWrite
      ? h(
          'section',
          { class: 'card' },
          h('h3', { class: 'card-title-inline' }, 'Grant access'),
          actionForm(
            [
              ['subject', 'User or @role', 'alice or @dba'],
              ['scope', 'Target or label:key=value', 'web-1 or label:env=prod'],
              ['minutes', 'For', '', DURATIONS],
              ['reason', 'Reason (kept in the audit log)', 'INC-1234 disk full on web-1'],
            ],
            'Grant',
            (v) =>
              act(
                () =>
                  api('POST', '/api/admin/grants', {
                    subject: v['subject'],
                    scope: v['scope'],
                    ...(v['minutes'] === '' ? {} : { minutes: Number(v['minutes']) }),
                    ...(v['reason'] === '' ? {} : { reason: v['reason'] }),
                  }),
                `Granted ${v['scope'] ?? ''} to ${v['subject'] ?? ''}.`,
              ),
          ),
        )
      : null,
    listCard(
      h(
        'div',
        { class: 'card-head pad' },
        h('h3', null, showAll ? 'All grants' : 'Grants in force'),
        h(
          'a',
          {
            href: showAll ? '/admin/grants' : '/admin/grants?all=true',
            'data-link': true,
            class: 'btn btn-small btn-ghost',
          },
          showAll ? 'Only those in force' : 'Show expired and revoked',
        ),
      ),
      table(
        ['Subject', 'Scope', 'Ends', 'Reason', 'Granted by', 'Status', ''],
        grants.map((g) => [
          h('strong', null, g.subject),
          g.scope,
          g.expiresAt === null
            ? 'until revoked'
            : h(
                'span',
                { title: formatTime(g.expiresAt) },
                g.isActive ? relative(g.expiresAt) : formatTime(g.expiresAt),
              ),
          g.reason ?? '',
          `${g.createdBy}, ${formatTime(g.createdAt)}`,
          g.revokedAt !== null
            ? pill(`revoked by ${g.revokedBy ?? '?'}`, 'bad')
            : g.isActive
              ? pill('in force', 'ok')
              : pill('expired'),
          ctx.canWrite && g.revokedAt === null && g.isActive
            ? smallButton(
                'Revoke',
                () =>
                  confirmThen(
                    `Revoke ${g.subject} → ${g.scope}?`,
                    'New sessions are refused at once and live sessions relying on this grant end within seconds.',
                    'Revoke',
                    () =>
                      act(
                        () => api('DELETE', `/api/admin/grants/${g.id}`),
                        `Revoked ${g.subject} → ${g.scope}.`,
                      ),
                  ),
                { danger: true, attrs: { 'data-revoke': g.id } },
              )
            : null,
        ]),
      ),
    ),
  );
}

/** Gateways: enrolled ones, one-time enrolment tokens, revoke. */
export async function gatewaysSection(ctx: AdminContext): Promise<void> {
  const { gateways } = await api<{ gateways: GatewayRow[] }>('GET', '/api/admin/gateways');
  const status = h('div');
  const act = sectionAct(ctx, status);
  render(
    ctx.el,
    status,
    addCard(ctx, 'Enrol a remote gateway', () =>
      actionForm(
        [
          ['name', 'Gateway name', 'gw-eu-1'],
          ['minutes', 'Token valid for', '', 'select:60=1 hour,1440=1 day,10080=7 days'],
        ],
        'Create enrolment token',
        async (v) => {
          try {
            const t = await api<{ token: string; expiresAt: number }>(
              'POST',
              '/api/admin/gateways/enroll-token',
              { name: v['name'], minutes: Number(v['minutes']) },
            );
            await showOnce(
              'Enrolment token',
              `Run the gateway with this one-time token before ${formatTime(t.expiresAt)}. It is shown only now.`,
              t.token,
            );
          } catch (err) {
            flash(status, errorText(err), 'bad');
          }
        },
      ),
    ),
    listCard(
      table(
        ['Gateway', 'Id', 'Status', 'Signing key', 'Enrolled', ''],
        gateways.map((g) => [
          h('strong', null, g.name),
          h('span', { class: 'mono small' }, g.id),
          g.status === 'active'
            ? pill('active', 'ok')
            : pill(`revoked ${formatTime(g.revokedAt)}`, 'bad'),
          h('span', { class: 'mono small' }, g.signKeyId),
          formatTime(g.enrolledAt),
          ctx.canWrite && g.status === 'active'
            ? smallButton(
                'Revoke',
                () =>
                  confirmThen(
                    `Revoke gateway ${g.name}?`,
                    'It can no longer obtain grants or unlock credentials. Sessions it holds fail at their next unlock.',
                    'Revoke',
                    () => act(() => api('POST', `/api/admin/gateways/${g.id}/revoke`)),
                  ),
                { danger: true },
              )
            : null,
        ]),
      ),
    ),
  );
}
