export * from './targets.js';
export * from './grants.js';
export * from './access.js';
