export * from './server.js';
export * from './addressing.js';
export * from './host-keys.js';
export * from './upstream.js';
