export * from './types.js';
export {
  AuditLog,
  CHECKPOINT_EVERY_EVENTS,
  CHECKPOINT_INTERVAL_MS,
  type AuditLogDeps,
} from './audit-log.js';
export {
  checkpointPayload,
  signCheckpoint,
  writeCheckpoint,
  type CheckpointDeps,
} from './checkpoint.js';
export { hashAuditEvent, canonicalAuditEvent, type ChainedEventRow } from './hash.js';
export { isAuditEventType, validateAuditEvent, type ValidAuditEvent } from './validate.js';
export { verifyAuditChain, type VerifyAuditOptions, type AuditVerifyReport } from './verify.js';
export { MAX_REPORTED_PROBLEMS, type AuditProblem, type AuditProblemKind } from './problems.js';
export { tailAudit, formatAuditRecord, type TailAuditOptions } from './tail.js';
export { readSink, type SinkLine } from './sink.js';
