import { canonicalJson } from '../core/canonical-json.js';
import { GatehouseError } from '../core/errors.js';
import { AUDIT_EVENT_TYPES, type AuditEventInput, type AuditEventType } from './types.js';

/** An event that passed validation, in the shape of its stored columns. */
export interface ValidAuditEvent {
  readonly type: AuditEventType;
  readonly user_name: string | null;
  readonly sid: string | null;
  readonly target: string | null;
  readonly gateway: string | null;
  readonly client_addr: string | null;
  /** Canonical JSON of `data`, as stored and hashed. */
  readonly data: string;
}

const KNOWN_TYPES: ReadonlySet<string> = new Set(AUDIT_EVENT_TYPES);
const MAX_DATA_DEPTH = 16;
// Matched against the key lower-cased with separators removed, so `newPassword`,
// `totp_secret` and `sshPrivateKey` are caught while `tokenId` or `credentialId` are not.
const SECRET_KEY_PATTERN =
  /(password|passwd|passphrase|secret|token|privatekey|credential|apikey)$/;
const PEM_PRIVATE_KEY_MARK = 'PRIVATE KEY-----';

/** True when `type` is one of {@link AUDIT_EVENT_TYPES}. */
export function isAuditEventType(type: string): type is AuditEventType {
  return KNOWN_TYPES.has(type);
}

/**
 * Checks an event before it enters the chain: a known type, JSON-only data, and nothing that
 * looks like a secret (DESIGN.md §5: never a password, key or token). A failure is a
 * programming error in the caller; it throws GH_AUDIT_WRITE_FAILED so the action is refused.
 */
export function validateAuditEvent(event: AuditEventInput): ValidAuditEvent {
  const type: string = event.type;
  if (!isAuditEventType(type)) throw refused(`unknown audit event type "${type}"`);
  const data = event.data ?? {};
  if (!isPlainObject(data)) throw refused(`${type}: data must be a plain object`);
  // One pass checks and writes the common case; anything unusual takes the slow path, which
  // names the problem (or gives the same text as canonicalJson).
  let json = canonicalChecked(data, 0);
  if (json === undefined) {
    checkValue(data, 'data', 0, type);
    json = canonicalJson(data);
  }
  return {
    type,
    user_name: event.user ?? null,
    sid: event.sid ?? null,
    target: event.target ?? null,
    gateway: event.gateway ?? null,
    client_addr: event.clientAddr ?? null,
    data: json,
  };
}

function checkValue(value: unknown, path: string, depth: number, type: string): void {
  if (depth > MAX_DATA_DEPTH) throw refused(`${type}: ${path} is nested too deeply`);
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw refused(`${type}: ${path} is not a finite number`);
    return;
  }
  if (typeof value === 'string') {
    if (value.includes(PEM_PRIVATE_KEY_MARK)) throw refused(`${type}: ${path} holds a private key`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item: unknown, i) => {
      if (item === undefined) throw refused(`${type}: ${path}[${i}] is undefined`);
      checkValue(item, `${path}[${i}]`, depth + 1, type);
    });
    return;
  }
  if (isPlainObject(value)) {
    for (const [key, member] of Object.entries(value)) {
      if (member === undefined) continue; // dropped by canonical JSON
      const memberPath = `${path}.${key}`;
      if (typeof member === 'string' && isSecretKey(key)) {
        throw refused(`${type}: ${memberPath} looks like a secret; audit events never hold one`);
      }
      checkValue(member, memberPath, depth + 1, type);
    }
    return;
  }
  // Dates, Buffers, Maps, bigints, functions… have no faithful canonical JSON form.
  throw refused(`${type}: ${path} is not a JSON value`);
}

function isSecretKey(key: string): boolean {
  return keyFacts(key).isSecret;
}

/** What the writers need of a key: its JSON text and whether it names a secret. */
interface KeyFacts {
  readonly json: string;
  readonly isSecret: boolean;
}

function keyFacts(key: string): KeyFacts {
  let facts = knownKeys.get(key);
  if (facts === undefined) {
    facts = {
      json: JSON.stringify(key),
      isSecret: SECRET_KEY_PATTERN.test(key.toLowerCase().replace(/[^a-z0-9]/g, '')),
    };
    if (knownKeys.size >= MAX_REMEMBERED_KEYS) knownKeys.clear();
    knownKeys.set(key, facts);
  }
  return facts;
}

// Events repeat their keys: remember what is known of each (bounded; cleared when full).
const MAX_REMEMBERED_KEYS = 1024;
const knownKeys = new Map<string, KeyFacts>();

/**
 * Canonical JSON of `value` (as canonicalJson writes it) when it passes every check of
 * checkValue; undefined when it does not, or when it holds what this writer leaves to the
 * slow path: keys that are array indices (JSON.stringify puts them first in numeric order)
 * and `__proto__`.
 */
function canonicalChecked(value: unknown, depth: number): string | undefined {
  if (depth > MAX_DATA_DEPTH) return undefined;
  switch (typeof value) {
    case 'string':
      return value.includes(PEM_PRIVATE_KEY_MARK) ? undefined : JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : undefined;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item = canonicalChecked(value[i], depth + 1);
      if (item === undefined) return undefined;
      out += i === 0 ? item : `,${item}`;
    }
    return `${out}]`;
  }
  if (!isPlainObject(value)) return undefined;
  let out = '{';
  let isFirst = true;
  for (const key of Object.keys(value).sort()) {
    const member = value[key];
    if (member === undefined) continue;
    const first = key.charCodeAt(0);
    if ((first >= 0x30 && first <= 0x39) || key === '__proto__') return undefined;
    const facts = keyFacts(key);
    if (typeof member === 'string' && facts.isSecret) return undefined;
    const json = canonicalChecked(member, depth + 1);
    if (json === undefined) return undefined;
    out += isFirst ? `${facts.json}:${json}` : `,${facts.json}:${json}`;
    isFirst = false;
  }
  return `${out}}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function refused(detail: string): GatehouseError {
  return new GatehouseError('GH_AUDIT_WRITE_FAILED', { detail });
}
