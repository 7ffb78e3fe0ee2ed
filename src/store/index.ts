export * from './schema.js';
export * from './open.js';
export * from './json.js';
export { GENESIS_HASH } from './migrations.js';
