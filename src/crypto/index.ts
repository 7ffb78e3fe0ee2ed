export * from './key-files.js';
export * from './ssh-key-pair.js';
