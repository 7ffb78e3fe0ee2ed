export {
  ConnectionGate,
  CLOSE_GRACE_MS,
  DEFAULT_CONNECTION_LIMITS,
  closeSoon,
  eventNameOf,
  refusalError,
  type Admission,
  type AdmitOptions,
  type ConnectionGateOptions,
  type ConnectionLimits,
  type RefusalReason,
} from './connection-gate.js';
export {
  ConnectionEventLog,
  EVENT_LOG_LINES_PER_WINDOW,
  EVENT_LOG_WINDOW_MS,
  type ConnectionEvent,
} from './connection-event-log.js';
export { checkedWithin, type ProofChecks, type WhileChecking } from './proof-checks.js';
export { clientAddressOf, sourceKeyOf } from './source-address.js';
