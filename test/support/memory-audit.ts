import type { AuditEventInput, AuditRecord } from '../../src/audit/types.js';
import { RecordingAudit } from '../../src/identity/testing/recording-audit.js';

/** An in-memory audit writer for unit tests; `failNext` makes the next append throw. */
export class MemoryAudit extends RecordingAudit {
  failNext = false;

  override append(event: AuditEventInput): Promise<AuditRecord> {
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(new Error('audit store down'));
    }
    return super.append(event);
  }
}
