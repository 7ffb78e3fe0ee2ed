export * from './errors.js';
export * from './types.js';
export * from './authorize.js';
export * from './ids.js';
export * from './canonical-json.js';
export * from './clock.js';
export * from './target-connect.js';
