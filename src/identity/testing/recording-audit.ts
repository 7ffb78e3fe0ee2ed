import type { AuditEventInput, AuditRecord, AuditWriter } from '../../audit/types.js';

/** An in-memory {@link AuditWriter} for tests: records every event; can be made to fail. */
export class RecordingAudit implements AuditWriter {
  readonly events: AuditRecord[] = [];
  /** When true, every append rejects (the audit store is down). */
  isFailing = false;

  /** Records `event` (or rejects when {@link isFailing}). */
  append(event: AuditEventInput): Promise<AuditRecord> {
    if (this.isFailing) return Promise.reject(new Error('audit store down'));
    const record: AuditRecord = {
      seq: this.events.length + 1,
      time: Date.now(),
      type: event.type,
      user: event.user ?? null,
      sid: event.sid ?? null,
      target: event.target ?? null,
      gateway: event.gateway ?? null,
      clientAddr: event.clientAddr ?? null,
      data: event.data ?? {},
      prevHash: '',
      hash: '',
    };
    this.events.push(record);
    return Promise.resolve(record);
  }

  /** The recorded events of `type`. */
  ofType(type: AuditRecord['type']): AuditRecord[] {
    return this.events.filter((e) => e.type === type);
  }

  /** The last recorded event; throws when there is none. */
  last(): AuditRecord {
    const event = this.events.at(-1);
    if (event === undefined) throw new Error('no audit event recorded');
    return event;
  }
}
