/** The shared database login/authorize/relay flow; protocols live in ./postgres and ./mysql. */
export * from './login-name.js';
export * from './redact.js';
export * from './query-audit.js';
export * from './session-flow.js';
