export * from './key-files.js';
