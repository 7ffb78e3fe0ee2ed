/** PostgreSQL wire protocol 3.0: bytes to typed messages and back. Knows nothing of users or policy. */
export * from './constants.js';
export * from './wire.js';
export * from './startup.js';
export * from './frontend-messages.js';
export * from './backend-messages.js';
export * from './framer.js';
