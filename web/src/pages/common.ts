import { pill } from '../dom.js';

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
