import { queryString } from '../api.js';
import { h, pill, type Child } from '../dom.js';

/** The pill of a session status. */
export function statusPill(status: string): HTMLElement {
  switch (status) {
    case 'active':
      return pill('live', 'live');
    case 'ended':
      return pill('ended', 'muted');
    case 'terminated':
      return pill('terminated', 'warn');
    case 'failed':
    case 'abandoned':
      return pill(status, 'bad');
    default:
      return pill(status);
  }
}

/** Where a {@link filterForm} goes: its page, and the app's navigation. */
export interface FilterTarget {
  readonly path: string;
  readonly navigate: (path: string) => void;
}

/** A `.filters` form of `fields` with Apply (to `path` with the non-empty values as query) and Reset. */
export function filterForm(fields: readonly Child[], target: FilterTarget): HTMLFormElement {
  const form = h(
    'form',
    { class: 'filters' },
    fields,
    h(
      'div',
      { class: 'filter-actions' },
      h('button', { class: 'btn btn-primary', type: 'submit' }, 'Apply'),
      h('a', { href: target.path, 'data-link': true, class: 'btn btn-ghost' }, 'Reset'),
    ),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const params: Record<string, string> = {};
    for (const [k, v] of new FormData(form).entries())
      if (typeof v === 'string' && v.trim() !== '') params[k] = v.trim();
    target.navigate(`${target.path}${queryString(params)}`);
  });
  return form;
}
