/**
 * The PostgreSQL front end as the proxy reads a client: startup packets (SSLRequest,
 * GSSENCRequest, CancelRequest, StartupMessage) through the real PacketReader, the startup
 * parameters, the authentication messages (cleartext password, SASLInitialResponse and SCRAM
 * client-first/client-final through the real SCRAM server), then the real relay (framer,
 * statement tracker, read-only checker with the SQL parser, audit redaction) fed with the
 * recorded client stream and target replies. Variant bit 0: a read-only target.
 */
import { GatehouseError } from '../../src/core/errors.js';
import { CancelKeyRegistry } from '../../src/db/postgres/cancel-keys.js';
import { ConnectionClosedError, PacketReader } from '../../src/db/postgres/packet-reader.js';
import {
  FRONTEND,
  PgProtocolError,
  PROTOCOL_3_0,
  parsePasswordMessage,
  parseSaslInitialResponse,
  parseStartupPacket,
} from '../../src/db/postgres/protocol/index.js';
import { relayPg } from '../../src/db/postgres/relay.js';
import { SCRAM_SHA_256 } from '../../src/db/postgres/scram-client.js';
import { fingerprintSql, loadSqlParser } from '../../src/db/postgres/sql-parser.js';
import { readClientStartup } from '../../src/db/postgres/startup-params.js';
import { createMockScramVerifier, ScramServerExchange } from '../../src/identity/scram.js';
import { checkingAuditor, recordingLogger } from '../lib/audit-sink.js';
import type { FuzzTarget } from '../lib/engine.js';
import { FakeSocket, playLogin, settle } from '../lib/fake-socket.js';
import type { FuzzInput, Segment } from '../lib/input.js';
import type { LengthField } from '../lib/mutate.js';
import { expectTypedError, FuzzFinding } from '../lib/oracle.js';

/** As in src/db/postgres/transport.ts. */
const MAX_AUTH_MESSAGE_BYTES = 16 * 1024;
const MAX_NEGOTIATION_ROUNDS = 3;
const VERIFIER = createMockScramVerifier('alice', Buffer.alloc(32, 7));

const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
};

/** The PostgreSQL frontend parser target. */
export const pgTarget: FuzzTarget = {
  name: 'pg',
  summary:
    'PostgreSQL: startup/SSL/cancel packets, SCRAM and password messages, relay framing and statement tracking',
  hints: {
    focus: 'c',
    variantBits: 1,
    lengthFields: pgLengthFields,
    dictionary: [
      int32(80_877_103),
      int32(80_877_104),
      int32(80_877_102),
      int32(PROTOCOL_3_0),
      int32(0x0003_0002),
      int32(-1),
      ...[
        'user\0',
        'database\0',
        'options\0',
        'replication\0true\0',
        '_pq_.x\0',
        'application_name\0',
        '-c gatehouse.auth=token',
        '--a=b \\ -c',
        'n,,n=,r=',
        'y,,n=,r=',
        'p=tls-server-end-point,,',
        ',c=biws,r=',
        ',p=',
        'SCRAM-SHA-256\0',
        '\0',
        'BEGIN; ',
        'COPY t FROM STDIN',
        'INSERT INTO t VALUES (1)',
        'SET ROLE x',
        '$1',
        "E'\\'",
        '/*',
        '--',
        "'",
        '"',
      ].map((s) => Buffer.from(s, 'utf8')),
      ...'QPBEDCSHdcfXFp'.split('').map((c) => Buffer.from(c)),
    ],
  },
  setup: () => loadSqlParser(),
  run: runPg,
};

async function runPg(input: FuzzInput): Promise<void> {
  const client = new FakeSocket();
  const reader = new PacketReader(client);
  const login = pgLogin(reader, client, serverNonceOf(input.segments)).catch((err: unknown) => {
    expectTypedError(err, [PgProtocolError, GatehouseError, ConnectionClosedError], 'login');
    return 'refused' as const;
  });
  const segments = input.segments;
  // Login phase: client bytes go to the reader.
  const { outcome, at } = await playLogin(client, segments, login);
  if (outcome !== 'relay') return;
  await pgRelay(client, reader.detach(), segments.slice(at), (input.variant & 1) === 1);
}

/** Mirrors PostgresFrontEnd's negotiation and PgTransport's authentication, with the same parsers. */
async function pgLogin(
  reader: PacketReader,
  client: FakeSocket,
  serverNonce: string | undefined,
): Promise<'relay' | 'done'> {
  let isTls = false;
  let params: ReadonlyMap<string, string> | undefined;
  for (let round = 0; params === undefined; round++) {
    if (round >= MAX_NEGOTIATION_ROUNDS)
      throw new GatehouseError('GH_PROTOCOL_VIOLATION', { detail: 'too many negotiation packets' });
    const packet = parseStartupPacket(await reader.startupPacket());
    switch (packet.kind) {
      case 'ssl-request':
        if (isTls || reader.buffered > 0)
          throw new GatehouseError('GH_PROTOCOL_VIOLATION', {
            detail: 'unexpected SSLRequest or data after it',
          });
        // The TLS layer is not fuzzed: what follows is read as if it had been decrypted.
        isTls = true;
        break;
      case 'gssenc-request':
        if (reader.buffered > 0)
          throw new GatehouseError('GH_PROTOCOL_VIOLATION', { detail: 'data after GSSENCRequest' });
        break;
      case 'cancel-request':
        await new CancelKeyRegistry().cancel(packet.key, '127.0.0.1');
        reader.detach();
        return 'done';
      case 'startup':
        if (packet.version >>> 16 !== 3)
          throw new GatehouseError('GH_PROTOCOL_VIOLATION', {
            detail: 'unsupported frontend protocol',
          });
        params = packet.params;
        break;
    }
  }
  const startup = readClientStartup(params);
  const authMessage = async (): Promise<Buffer> => {
    const m = await reader.message(MAX_AUTH_MESSAGE_BYTES);
    if (m.type !== FRONTEND.password)
      throw new PgProtocolError(`expected an authentication message, got type ${m.type}`);
    return m.body;
  };
  void client;
  if (startup.authMode === 'password') {
    parsePasswordMessage(await authMessage());
    return 'relay';
  }
  const initial = parseSaslInitialResponse(await authMessage());
  if (initial.mechanism !== SCRAM_SHA_256 || initial.data === undefined)
    throw new GatehouseError('GH_AUTH_FAILED', { detail: 'mechanism' });
  const exchange = new ScramServerExchange(
    VERIFIER,
    serverNonce === undefined ? {} : { serverNonce },
  );
  const first = exchange.handleClientFirst(initial.data.toString('utf8'));
  if (!first.ok) throw new GatehouseError('GH_AUTH_FAILED', { detail: first.reason });
  // The mock verifier fails the proof; the relay is fuzzed either way.
  exchange.handleClientFinal((await authMessage()).toString('utf8'));
  return 'relay';
}

/** The real relay between fake sockets, fed the rest of the recording. */
async function pgRelay(
  client: FakeSocket,
  clientLeftover: Buffer,
  rest: readonly Segment[],
  isReadOnly: boolean,
): Promise<void> {
  const upstream = new FakeSocket();
  const { auditor, problems } = checkingAuditor('postgres', fingerprintSql);
  const { log, errors } = recordingLogger();
  const relay = relayPg({
    client: client as never,
    clientLeftover,
    upstream: upstream as never,
    upstreamLeftover: Buffer.alloc(0),
    auditor,
    isReadOnly,
    targetName: 'fuzz-db',
    signal: new AbortController().signal,
    touch: () => undefined,
    log,
  });
  for (const seg of rest) {
    (seg.dir === 'c' ? client : upstream).deliver(seg.data);
    await settle();
  }
  await client.hangUp();
  const end = await relay;
  await auditor.flush();
  upstream.destroy();
  if (end.reason === 'internal-error' || errors.length > 0)
    throw new FuzzFinding('internal-error', `relay: ${errors.join(' ').slice(0, 2000)}`);
  const problem = problems[0];
  if (problem !== undefined) throw problem;
}

// The server nonce the recorded gateway chose (AuthenticationSASLContinue), so a recorded
// client-final passes the nonce check and its proof is parsed too.
function serverNonceOf(segments: readonly Segment[]): string | undefined {
  for (const seg of segments) {
    if (seg.dir !== 's') continue;
    const text = seg.data.toString('latin1');
    const r = /r=([\x21-\x2b\x2d-\x7e]+),s=/.exec(text);
    const clientFirst = segments
      .find((s) => s.dir === 'c' && s.data.includes('n,,n='))
      ?.data.toString('latin1');
    const clientNonce =
      clientFirst === undefined ? undefined : /r=([\x21-\x2b\x2d-\x7e]+)/.exec(clientFirst)?.[1];
    if (r?.[1] !== undefined && clientNonce !== undefined && r[1].startsWith(clientNonce))
      return r[1].slice(clientNonce.length);
  }
  return undefined;
}

/** Header length fields of the messages in a segment (startup packet at 0, else typed messages). */
function pgLengthFields(seg: Segment): LengthField[] {
  const d = seg.data;
  const out: LengthField[] = [];
  let pos = 0;
  if (seg.dir === 'c' && d.length >= 8) {
    const first = d.readInt32BE(0);
    if (first >= 8 && first <= 10_000 && d.readUInt32BE(4) >= 0x0003_0000) {
      out.push({ offset: 0, width: 4, isLittleEndian: false });
      pos = first;
    }
  }
  while (pos + 5 <= d.length && out.length < 64) {
    out.push({ offset: pos + 1, width: 4, isLittleEndian: false });
    const length = d.readInt32BE(pos + 1);
    if (length < 4) break;
    // Int16 counts and Int32 lengths just inside the body (Bind, Parse, SASLInitialResponse).
    for (const inner of [5, 7, 9])
      if (pos + inner + 4 <= d.length)
        out.push({ offset: pos + inner, width: inner === 5 ? 4 : 2, isLittleEndian: false });
    pos += 1 + length;
  }
  return out;
}
