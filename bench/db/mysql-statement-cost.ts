// Dev helper (not part of the bench run): the CPU one MySQL statement costs Gatehouse in
// process, without sockets: the relay (framing both ways), the command handler, the response
// tracker, the auditor and the transcript, fed sysbench oltp_point_select's bytes (a prepared
// `SELECT c FROM sbtest1 WHERE id=?` executed with a new id each time). The audit batch is
// dropped (the audit log has its own figures). `node bench/launch.mjs
// bench/db/mysql-statement-cost.ts [--statements N] [--rounds N]`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MysqlCommandHandler, type CommandContext } from '../../src/db/mysql/command-handler.js';
import { Command, FieldType, Header } from '../../src/db/mysql/protocol/constants.js';
import {
  binaryRow,
  columnCount,
  columnDefinition,
  packet,
  packets,
} from '../../src/db/mysql/protocol/testing/byte-builder.js';
import { encodeEof } from '../../src/db/mysql/protocol/responses.js';
import { MysqlRelay } from '../../src/db/mysql/relay.js';
import { StatementRegistry } from '../../src/db/mysql/statements.js';
import { FakeSocket } from '../../src/db/mysql/testing/fake-socket.js';
import { QueryAuditor } from '../../src/db/query-audit.js';
import { DbTranscriptWriter } from '../../src/recording/db-transcript.js';
import { scriptOption } from '../lib/options.js';

const option = (name: string, fallback: number): number => Number(scriptOption(name) ?? fallback);
const STATEMENTS = option('--statements', 50_000);
const ROUNDS = option('--rounds', 5);

const SQL = 'SELECT c FROM sbtest1 WHERE id=?';
const STMT_ID = 1;

function executePacket(id: number): Buffer {
  const payload = Buffer.alloc(18);
  payload.writeUInt8(Command.STMT_EXECUTE, 0);
  payload.writeUInt32LE(STMT_ID, 1);
  payload.writeUInt8(0, 5); // flags
  payload.writeUInt32LE(1, 6); // iteration count
  payload.writeUInt8(0, 10); // null bitmap
  payload.writeUInt8(1, 11); // new params bound
  payload.writeUInt8(FieldType.LONG, 12);
  payload.writeUInt8(0, 13);
  payload.writeInt32LE(id, 14);
  return packet(0, payload);
}

const prepareResponse = packets(1, [
  Buffer.from([Header.OK, STMT_ID, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0]),
  columnDefinition('?', FieldType.LONGLONG),
  encodeEof(),
  columnDefinition('c', FieldType.STRING),
  encodeEof(),
]);
const executeResponse = packets(1, [
  columnCount(1),
  columnDefinition('c', FieldType.STRING),
  encodeEof(),
  binaryRow(['68487932199-96439406143-93774651418-41631865787-96406072701-20604855487']),
  encodeEof(),
]);

async function round(dir: string, index: number): Promise<number> {
  // Writes are only counted: kept, 2 × STATEMENTS responses would grow the heap under test.
  const client = new FakeSocket({ isKeepingWrites: false });
  const upstream = new FakeSocket({ isKeepingWrites: false });
  const transcript = await DbTranscriptWriter.create(join(dir, `t${index}.ndjson`), {
    sid: `s${index}`,
    user: 'alice',
    target: 'bench-my',
    protocol: 'mysql',
    account: 'bench',
    database: 'bench',
  });
  const auditor = new QueryAuditor({
    auditBatch: () => Promise.resolve(),
    sid: `s${index}`,
    user: 'alice',
    target: 'bench-my',
    clientAddr: '127.0.0.1:40000',
    protocol: 'mysql',
    dialect: 'mysql',
    transcript,
    onFailure: (err) => {
      throw err;
    },
  });
  const handler = new MysqlCommandHandler({
    targetName: 'bench-my',
    isReadOnly: false,
    statements: new StatementRegistry(),
    auditor,
    resolveKill: () => undefined,
  });
  const relay = new MysqlRelay<CommandContext>({
    client: client.asDuplex(),
    upstream: upstream.asDuplex(),
    isDeprecateEof: false,
    commandHeadBytes: 64 * 1024 + 64,
    handler,
  });
  relay.start();
  const prepare = Buffer.concat([
    Buffer.from([1 + SQL.length, 0, 0, 0, Command.STMT_PREPARE]),
    Buffer.from(SQL),
  ]);
  client.emit('data', prepare);
  upstream.emit('data', prepareResponse);
  const commands = Array.from({ length: 1000 }, (_, i) => executePacket(i + 1));
  const started = process.cpuUsage();
  for (let i = 0; i < STATEMENTS; i++) {
    client.emit('data', commands[i % commands.length]);
    upstream.emit('data', executeResponse);
    // Let the auditor's timers and the transcript's writes run now and then, as they would.
    if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
  }
  const used = process.cpuUsage(started);
  await auditor.flush();
  await transcript.close();
  relay.close('client-closed');
  if (auditor.stats.statements !== STATEMENTS)
    throw new Error(`audited ${auditor.stats.statements}`);
  return (used.user + used.system) / STATEMENTS;
}

const dir = mkdtempSync(join(tmpdir(), 'gh-mycost-'));
try {
  const results: number[] = [];
  for (let r = 0; r < ROUNDS; r++) results.push(await round(dir, r));
  const sorted = [...results].sort((a, b) => a - b);
  process.stdout.write(
    `CPU per statement (µs), ${ROUNDS} rounds of ${STATEMENTS}: ${results.map((r) => r.toFixed(1)).join(' ')}; median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
