import type { KeyObject } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.js';
import { GatehouseError, type ErrorCode } from '../core/errors.js';
import { verifySignature, type Signer } from '../crypto/key-files.js';

/** Longest token accepted, in characters. */
export const MAX_SIGNED_TOKEN_LENGTH = 4096;

/**
 * A compact signed token: `base64url(canonical JSON).base64url(Ed25519 signature)`. The
 * signature covers a domain prefix so one key can sign several kinds of token safely.
 */
export interface SignedTokenKind {
  /** Domain separation prefix, e.g. `gatehouse-user-ticket.v1\n`. */
  readonly prefix: string;
  /** Error code for any failure to open it. */
  readonly errorCode: ErrorCode;
  /** Name used in error details. */
  readonly name: string;
}

/** Signs `payload` as a token of `kind`. */
export function signToken(signer: Signer, kind: SignedTokenKind, payload: object): string {
  const body = Buffer.from(canonicalJson(payload), 'utf8');
  const signature = Buffer.from(signer.sign(signingBytes(kind, body)), 'base64');
  return `${body.toString('base64url')}.${signature.toString('base64url')}`;
}

/** Checks the signature and returns the canonical JSON object inside; throws kind.errorCode. */
export function openToken(
  token: string,
  kind: SignedTokenKind,
  publicKey: KeyObject,
): Record<string, unknown> {
  const { body, signature } = splitToken(token, kind);
  if (!verifySignature(publicKey, signingBytes(kind, body), signature.toString('base64'))) {
    throw tokenInvalid(kind, 'bad signature');
  }
  return parseTokenBody(body, kind);
}

/** Reads the payload without checking the signature: never base a decision on it. */
export function readTokenUnverified(token: string, kind: SignedTokenKind): Record<string, unknown> {
  return parseTokenBody(splitToken(token, kind).body, kind);
}

/** The error for a malformed or unacceptable token of `kind`. */
export function tokenInvalid(kind: SignedTokenKind, detail: string): GatehouseError {
  return new GatehouseError(kind.errorCode, { detail: `${kind.name}: ${detail}` });
}

function parseTokenBody(body: Buffer, kind: SignedTokenKind): Record<string, unknown> {
  const text = body.toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw tokenInvalid(kind, 'payload is not JSON');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw tokenInvalid(kind, 'payload is not an object');
  // Signed bytes must be the canonical form, so one token has exactly one encoding.
  if (canonicalJson(raw) !== text) throw tokenInvalid(kind, 'payload is not canonical');
  return raw as Record<string, unknown>;
}

function splitToken(token: string, kind: SignedTokenKind): { body: Buffer; signature: Buffer } {
  if (typeof token !== 'string' || token.length > MAX_SIGNED_TOKEN_LENGTH)
    throw tokenInvalid(kind, 'not a token');
  const parts = token.split('.');
  if (parts.length !== 2) throw tokenInvalid(kind, 'expected two parts');
  const [bodyText = '', sigText = ''] = parts;
  return { body: decodeBase64Url(bodyText, kind), signature: decodeBase64Url(sigText, kind) };
}

function signingBytes(kind: SignedTokenKind, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(kind.prefix, 'utf8'), body]);
}

function decodeBase64Url(text: string, kind: SignedTokenKind): Buffer {
  const bytes = Buffer.from(text, 'base64url');
  if (text === '' || bytes.toString('base64url') !== text)
    throw tokenInvalid(kind, 'not canonical base64url');
  return bytes;
}
