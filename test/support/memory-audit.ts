import type { AuditEventInput, AuditRecord, AuditWriter } from '../../src/audit/types.js';

/** An in-memory audit writer for unit tests; `failNext` makes the next append throw. */
export class MemoryAudit implements AuditWriter {
  readonly events: AuditRecord[] = [];
  failNext = false;

  append(event: AuditEventInput): Promise<AuditRecord> {
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(new Error('audit store down'));
    }
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

  /** Events of one type. */
  ofType(type: AuditRecord['type']): AuditRecord[] {
    return this.events.filter((e) => e.type === type);
  }
}
