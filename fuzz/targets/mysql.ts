/**
 * The MySQL front end as the proxy reads a client: the real connection phase
 * (acceptClientLogin over PacketChannel: SSLRequest detection, HandshakeResponse41, auth
 * switch, caching_sha2 full authentication with RSA) and then the real command-phase relay
 * (FrameScanner, command decoding and policy, prepared-statement execute decoding, response
 * tracking of the recorded target replies, audit). Variant bit 0: no CLIENT_DEPRECATE_EOF;
 * bit 1: a read-only target.
 */
import { generateKeyPairSync } from 'node:crypto';
import { parseDbLogin } from '../../src/db/login-name.js';
import {
  acceptClientLogin,
  ClientLoginError,
  type ClientLogin,
} from '../../src/db/mysql/client-login.js';
import { MysqlCommandHandler, type CommandContext } from '../../src/db/mysql/command-handler.js';
import { MysqlProtocolError } from '../../src/db/mysql/protocol/index.js';
import { MysqlRelay } from '../../src/db/mysql/relay.js';
import { StatementRegistry } from '../../src/db/mysql/statements.js';
import { MAX_AUDITED_SQL_BYTES } from '../../src/db/redact.js';
import { checkingAuditor } from '../lib/audit-sink.js';
import type { FuzzTarget } from '../lib/engine.js';
import { FakeSocket, playLogin, settle } from '../lib/fake-socket.js';
import type { FuzzInput, Segment } from '../lib/input.js';
import type { LengthField } from '../lib/mutate.js';
import { expectTypedError, FuzzFinding } from '../lib/oracle.js';

/** As in src/db/mysql/transport.ts. */
const COMMAND_HEAD_BYTES = MAX_AUDITED_SQL_BYTES + 64;
const READ_ONLY_COMMAND_HEAD_BYTES = 1024 * 1024;
/** The relay's own deliberate error when a command the gateway sent fails on the target. */
const GATEWAY_COMMAND_FAILED = 'gateway command failed on the target';
/** acceptClientLogin's reason when the RSA-encrypted password does not decrypt. */
const RSA_DECRYPT_FAILED = 'rsa-decrypt-failed';

type LoginOutcome = ClientLogin | 'refused' | 'relay-anyway';

let rsa: { privateKey: import('node:crypto').KeyObject; publicKeyPem: string } | undefined;

const le = (n: number, width: number): Buffer => {
  const b = Buffer.alloc(width);
  b.writeUIntLE(n, 0, width);
  return b;
};

/** The MySQL packet layer target. */
export const mysqlTarget: FuzzTarget = {
  name: 'mysql',
  summary:
    'MySQL: packet framing, handshake response and auth, commands, COM_STMT_EXECUTE parameters, response tracking',
  hints: {
    focus: 'c',
    variantBits: 3,
    lengthFields: mysqlLengthFields,
    dictionary: [
      le(0xff_ffff, 3),
      Buffer.from([0xfb]),
      Buffer.from([0xfc, 0xff, 0xff]),
      Buffer.from([0xfd, 0xff, 0xff, 0xff]),
      Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      Buffer.from([0xff]),
      le(0xffff_ffff, 4),
      ...[0x03, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1c, 0x1f, 0x0c, 0x11, 0x04, 0x02].map((c) =>
        Buffer.from([c]),
      ),
      ...[
        'mysql_native_password\0',
        'caching_sha2_password\0',
        'mysql_clear_password\0',
        'LOAD DATA LOCAL INFILE ',
        'KILL 1',
        'SELECT ?',
        'alice#shop-db\0',
        '#',
        '\0',
      ].map((s) => Buffer.from(s)),
    ],
  },
  setup: () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    rsa = {
      privateKey: pair.privateKey,
      publicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    };
    return Promise.resolve();
  },
  run: runMysql,
};

async function runMysql(input: FuzzInput): Promise<void> {
  const client = new FakeSocket();
  const login = acceptClientLogin(client as never, {
    serverVersion: '10.11.0-MariaDB-gatehouse',
    connectionId: 7,
    tls: undefined,
    allowPlaintext: true,
    rsa,
    timeoutMs: 60_000,
  }).then(
    (l): LoginOutcome => l,
    (err: unknown): LoginOutcome => {
      expectTypedError(err, [ClientLoginError], 'login');
      // acceptClientLogin wraps unexpected errors as "login failed: …": a bug, not bad input.
      if (
        err instanceof ClientLoginError &&
        err.err === undefined &&
        err.message.startsWith('login failed:')
      ) {
        throw new FuzzFinding('unexpected-error', `login: ${err.message}`, { cause: err });
      }
      // The recorded password was RSA-encrypted to the capture gateway's (ephemeral) key, which
      // this harness cannot have: the login ends there, and the relay is fuzzed all the same.
      return err instanceof ClientLoginError && err.message === RSA_DECRYPT_FAILED
        ? 'relay-anyway'
        : 'refused';
    },
  );
  const segments = input.segments;
  const { outcome: done, at } = await playLogin(client, segments, login);
  if (done === 'refused') return;
  if (done === 'relay-anyway') {
    await mysqlRelay(new FakeSocket(), Buffer.alloc(0), segments.slice(at), input.variant);
    return;
  }
  parseDbLogin(done.response.username, {});
  done.reply({ ok: true, statusFlags: 2 });
  await mysqlRelay(client, done.takeLeftover(), segments.slice(at), input.variant);
  done.secret.fill(0);
}

async function mysqlRelay(
  client: FakeSocket,
  leftover: Buffer,
  rest: readonly Segment[],
  variant: number,
): Promise<void> {
  const upstream = new FakeSocket();
  const isReadOnly = (variant & 2) !== 0;
  const { auditor, problems } = checkingAuditor('mysql');
  const handler = new MysqlCommandHandler({
    targetName: 'fuzz-db',
    isReadOnly,
    statements: new StatementRegistry(),
    auditor,
    resolveKill: (id) => (id === 7 ? 99 : undefined),
  });
  const faults: unknown[] = [];
  const relay = new MysqlRelay<CommandContext>({
    client,
    upstream,
    clientLeftover: leftover,
    isDeprecateEof: (variant & 1) === 0,
    commandHeadBytes: isReadOnly ? READ_ONLY_COMMAND_HEAD_BYTES : COMMAND_HEAD_BYTES,
    handler,
    onProblem: (_problem, err) => {
      if (err !== undefined) faults.push(err);
    },
  });
  relay.start();
  for (const seg of rest) {
    (seg.dir === 'c' ? client : upstream).deliver(seg.data);
    await settle();
  }
  await client.hangUp();
  await relay.closed;
  await auditor.flush();
  for (const err of faults) {
    if (err instanceof Error && err.message.startsWith(GATEWAY_COMMAND_FAILED)) continue;
    expectTypedError(err, [MysqlProtocolError], 'relay');
  }
  const problem = problems[0];
  if (problem !== undefined) throw problem;
}

/** Packet headers (3-byte little-endian lengths) and the lenenc/length bytes just after. */
function mysqlLengthFields(seg: Segment): LengthField[] {
  const d = seg.data;
  const out: LengthField[] = [];
  let pos = 0;
  while (pos + 4 <= d.length && out.length < 64) {
    out.push({ offset: pos, width: 3, isLittleEndian: true });
    // COM_STMT_EXECUTE / handshake fields: stmt id, counts, 1-byte auth length at 36.
    for (const [inner, width] of [
      [5, 4],
      [9, 1],
      [14, 1],
      [15, 2],
      [36, 1],
    ] as const)
      if (pos + inner + width <= d.length)
        out.push({ offset: pos + inner, width, isLittleEndian: true });
    pos += 4 + d.readUIntLE(pos, 3);
  }
  return out;
}
