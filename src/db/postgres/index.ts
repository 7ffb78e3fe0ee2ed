/** The PostgreSQL front end: listener, client login, upstream login, relay with audit. */
export { PostgresFrontEnd, type PostgresFrontEndOptions } from './front-end.js';
export { CancelKeyRegistry } from './cancel-keys.js';
export { loadSqlParser, fingerprintSql } from './sql-parser.js';
export { checkReadOnly, type ReadOnlyVerdict } from './read-only.js';
