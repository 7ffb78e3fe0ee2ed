/**
 * A small local endpoint speaking the AWS KMS JSON 1.1 protocol, so tests drive the real
 * `@aws-sdk/client-kms` (endpoint override, fake static credentials) without reaching AWS.
 *
 * Wire facts (AWS KMS API reference, "awsJson1_1"): POST /, `X-Amz-Target: TrentService.<Op>`,
 * `Content-Type: application/x-amz-json-1.1`, blobs as base64 strings, errors as HTTP 400 with
 * `{"__type": "<Exception>", "message": "…"}`. SigV4 signatures are not verified, but an
 * `Authorization: AWS4-HMAC-SHA256 Credential=<accessKeyId>/…` header must be present.
 *
 * Ciphertext blobs: 0x01 | key id length (1 byte) | key id | iv (12) | tag (16) | ciphertext,
 * AES-256-GCM under the key's material with AAD = canonical JSON of {keyArn, context}, so a
 * blob opens only under its key and its exact EncryptionContext.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { canonicalJson } from '../../src/core/canonical-json.js';

/** Fake static credentials the SDK signs with. */
export const FAKE_AWS_CREDENTIALS = {
  accessKeyId: 'AKIAFAKEGATEHOUSE',
  secretAccessKey: 'fake-secret-key',
} as const;

/** One request the endpoint answered, for assertions. */
export interface FakeKmsRequest {
  readonly operation: string;
  readonly hasAuthorization: boolean;
  readonly body: Readonly<Record<string, unknown>>;
}

/** A running fake KMS endpoint. */
export interface FakeKmsEndpoint extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`: pass as the SDK's endpoint. */
  readonly url: string;
  readonly region: string;
  /** Every request received, in order. */
  readonly requests: readonly FakeKmsRequest[];
  /** Creates a symmetric key; returns its key id (a UUID, as AWS does). */
  createKey(): string;
  /** The ARN of a key id, the form KMS returns in `KeyId` fields. */
  arnOf(keyId: string): string;
  /** Points `alias/<name>` at a key (creating or moving the alias). */
  setAlias(name: string, keyId: string): void;
  /** While stalled, requests are read and recorded but never answered (a hung KMS). */
  setStalled(isStalled: boolean): void;
  close(): Promise<void>;
}

/** Options for {@link startFakeKmsEndpoint}. */
export interface FakeKmsOptions {
  readonly region?: string;
  readonly accountId?: string;
  /** When set, the Authorization header's credential scope must name this access key id. */
  readonly accessKeyId?: string;
}

const AMZ_JSON = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'TrentService.';
const MAX_BODY_BYTES = 1 << 20;
const BLOB_VERSION = 1;

type Json = Record<string, unknown>;

class KmsFault extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** Starts the endpoint on 127.0.0.1, port 0. */
export async function startFakeKmsEndpoint(options: FakeKmsOptions = {}): Promise<FakeKmsEndpoint> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '111122223333';
  const keys = new Map<string, Buffer>();
  const aliases = new Map<string, string>();
  const requests: FakeKmsRequest[] = [];
  let isStalled = false;
  const arnOf = (keyId: string): string => `arn:aws:kms:${region}:${accountId}:key/${keyId}`;

  /** Resolves a key id, key ARN, alias name or alias ARN to a key id. */
  const resolveKey = (ref: unknown): string => {
    if (typeof ref !== 'string' || ref === '')
      throw new KmsFault('ValidationException', 'KeyId is required');
    const aliasArn = /^arn:aws:kms:[^:]+:\d+:(alias\/.+)$/.exec(ref);
    const keyArn = /^arn:aws:kms:[^:]+:\d+:key\/(.+)$/.exec(ref);
    const name = aliasArn?.[1] ?? ref;
    const keyId = name.startsWith('alias/') ? aliases.get(name) : (keyArn?.[1] ?? ref);
    if (keyId === undefined || !keys.has(keyId))
      throw new KmsFault('NotFoundException', `Key '${ref}' does not exist`);
    return keyId;
  };

  const encrypt = (keyId: string, plaintext: Buffer, context: Json): Buffer => {
    const material = mustGet(keys, keyId);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', material, iv);
    cipher.setAAD(blobAad(arnOf(keyId), context));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const id = Buffer.from(keyId, 'utf8');
    return Buffer.concat([Buffer.from([BLOB_VERSION, id.length]), id, iv, cipher.getAuthTag(), ct]);
  };

  const decrypt = (
    blob: Buffer,
    context: Json,
    expectedKey: unknown,
  ): { keyId: string; plaintext: Buffer } => {
    const invalid = new KmsFault('InvalidCiphertextException', 'The ciphertext is invalid');
    if (blob.length < 2 || blob[0] !== BLOB_VERSION) throw invalid;
    const idLength = blob[1] ?? 0;
    const keyId = blob.subarray(2, 2 + idLength).toString('utf8');
    const rest = blob.subarray(2 + idLength);
    if (rest.length < 28) throw invalid;
    if (!keys.has(keyId))
      throw new KmsFault('NotFoundException', `Key '${arnOf(keyId)}' does not exist`);
    if (expectedKey !== undefined && resolveKey(expectedKey) !== keyId) {
      throw new KmsFault(
        'IncorrectKeyException',
        'The key ID in the request does not identify the KMS key used to encrypt the ciphertext',
      );
    }
    const decipher = createDecipheriv('aes-256-gcm', mustGet(keys, keyId), rest.subarray(0, 12), {
      authTagLength: 16,
    });
    decipher.setAAD(blobAad(arnOf(keyId), context));
    decipher.setAuthTag(rest.subarray(12, 28));
    try {
      return {
        keyId,
        plaintext: Buffer.concat([decipher.update(rest.subarray(28)), decipher.final()]),
      };
    } catch {
      throw invalid;
    }
  };

  const operations: Record<string, (body: Json) => Json> = {
    GenerateDataKey: (body) => {
      const keyId = resolveKey(body['KeyId']);
      const bytes =
        body['KeySpec'] === 'AES_256'
          ? 32
          : body['KeySpec'] === 'AES_128'
            ? 16
            : body['NumberOfBytes'];
      if (typeof bytes !== 'number' || bytes < 1 || bytes > 1024) {
        throw new KmsFault('ValidationException', 'KeySpec or NumberOfBytes is required');
      }
      const plaintext = randomBytes(bytes);
      const blob = encrypt(keyId, plaintext, contextOf(body['EncryptionContext']));
      return {
        KeyId: arnOf(keyId),
        Plaintext: plaintext.toString('base64'),
        CiphertextBlob: blob.toString('base64'),
      };
    },
    Encrypt: (body) => {
      const keyId = resolveKey(body['KeyId']);
      const blob = encrypt(keyId, blobOf(body['Plaintext']), contextOf(body['EncryptionContext']));
      return {
        KeyId: arnOf(keyId),
        CiphertextBlob: blob.toString('base64'),
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      };
    },
    Decrypt: (body) => {
      const out = decrypt(
        blobOf(body['CiphertextBlob']),
        contextOf(body['EncryptionContext']),
        body['KeyId'],
      );
      return {
        KeyId: arnOf(out.keyId),
        Plaintext: out.plaintext.toString('base64'),
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      };
    },
    ReEncrypt: (body) => {
      const source = decrypt(
        blobOf(body['CiphertextBlob']),
        contextOf(body['SourceEncryptionContext']),
        body['SourceKeyId'],
      );
      const destination = resolveKey(body['DestinationKeyId']);
      const blob = encrypt(
        destination,
        source.plaintext,
        contextOf(body['DestinationEncryptionContext']),
      );
      return {
        CiphertextBlob: blob.toString('base64'),
        SourceKeyId: arnOf(source.keyId),
        KeyId: arnOf(destination),
        SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      };
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const target = header(req, 'x-amz-target');
      const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
      const authorization = header(req, 'authorization');
      const body = await readJson(req);
      requests.push({ operation, hasAuthorization: authorization !== '', body });
      if (isStalled) return;
      if (req.method !== 'POST' || header(req, 'content-type') !== AMZ_JSON) {
        throw new KmsFault('SerializationException', `expected POST with Content-Type ${AMZ_JSON}`);
      }
      if (!authorization.startsWith('AWS4-HMAC-SHA256 ')) {
        throw new KmsFault('MissingAuthenticationTokenException', 'Missing Authentication Token');
      }
      if (
        options.accessKeyId !== undefined &&
        !authorization.includes(`Credential=${options.accessKeyId}/`)
      ) {
        throw new KmsFault(
          'UnrecognizedClientException',
          'The security token included in the request is invalid.',
        );
      }
      const run = operations[operation];
      if (run === undefined)
        throw new KmsFault('UnknownOperationException', `unknown operation ${target}`);
      reply(res, 200, run(body));
    } catch (err) {
      const fault =
        err instanceof KmsFault ? err : new KmsFault('KMSInternalException', String(err), 500);
      res.setHeader('x-amzn-ErrorType', fault.type);
      reply(res, fault.status, { __type: fault.type, message: fault.message });
    }
  };

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const close = async (): Promise<void> => {
    if (!server.listening) return;
    // The SDK keeps sockets alive; drop them so close() does not wait for their idle timeout.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  };

  return {
    url: `http://127.0.0.1:${port}`,
    region,
    requests,
    createKey: () => {
      const keyId = randomUUID();
      keys.set(keyId, randomBytes(32));
      return keyId;
    },
    arnOf,
    setAlias: (name, keyId) => {
      if (!keys.has(keyId)) throw new Error(`no key ${keyId}`);
      aliases.set(name.startsWith('alias/') ? name : `alias/${name}`, keyId);
    },
    setStalled: (value) => {
      isStalled = value;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function blobAad(keyArn: string, context: Json): Buffer {
  return Buffer.from(canonicalJson({ keyArn, context }), 'utf8');
}

/** An absent EncryptionContext is the empty context, as in KMS. Values must be strings. */
function contextOf(value: unknown): Json {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new KmsFault('ValidationException', 'EncryptionContext must be a string map');
  }
  for (const member of Object.values(value)) {
    if (typeof member !== 'string')
      throw new KmsFault('ValidationException', 'EncryptionContext must be a string map');
  }
  return value as Json;
}

function blobOf(value: unknown): Buffer {
  if (typeof value !== 'string' || value === '')
    throw new KmsFault('ValidationException', 'blob is required');
  return Buffer.from(value, 'base64');
}

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return typeof value === 'string' ? value : '';
}

async function readJson(req: IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new KmsFault('ValidationException', 'request too large');
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new KmsFault('SerializationException', 'body is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new KmsFault('SerializationException', 'body is not a JSON object');
  }
  return parsed as Json;
}

function reply(res: ServerResponse, status: number, body: Json): void {
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, {
    'Content-Type': AMZ_JSON,
    'Content-Length': payload.length,
    'x-amzn-RequestId': randomUUID(),
  });
  res.end(payload);
}

function mustGet<K, V>(map: ReadonlyMap<K, V>, key: K): V {
  const value = map.get(key);
  if (value === undefined) throw new KmsFault('NotFoundException', 'key does not exist');
  return value;
}
