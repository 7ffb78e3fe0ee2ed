import type { KeyObject } from 'node:crypto';
import type { Signer } from '../crypto/key-files.js';
import { isText } from './session-grant.js';
import { openToken, signToken, tokenInvalid, type SignedTokenKind } from './signed-token.js';

/**
 * A user ticket: the control plane's word that a user proved who they are at one gateway.
 * Front ends that learn the target only after login (SSH exec, the target menu, `-J`) exchange
 * it for a session grant per target; it is never enough to unlock anything by itself.
 */
export interface UserTicket {
  readonly v: 1;
  readonly user: string;
  /** The gateway that collected the proof; only it may use the ticket. */
  readonly gateway: string;
  readonly iat: number;
  readonly exp: number;
}

/** How long a ticket serves one client connection. */
export const USER_TICKET_TTL_MS = 24 * 3_600_000;

const TICKET_TOKEN: SignedTokenKind = {
  prefix: 'gatehouse-user-ticket.v1\n',
  errorCode: 'GH_GRANT_INVALID',
  name: 'user ticket',
};
const FIELDS = 'exp,gateway,iat,user,v';

/** Signs a ticket for `user` at `gateway`. */
export function issueUserTicket(
  signer: Signer,
  claims: { user: string; gateway: string },
  now: number,
): string {
  const ticket: UserTicket = {
    v: 1,
    user: claims.user,
    gateway: claims.gateway,
    iat: now,
    exp: now + USER_TICKET_TTL_MS,
  };
  return signToken(signer, TICKET_TOKEN, ticket);
}

/** Verifies a ticket's signature and lifetime; GH_GRANT_INVALID otherwise. */
export function verifyUserTicket(token: string, publicKey: KeyObject, now: number): UserTicket {
  const record = openToken(token, TICKET_TOKEN, publicKey);
  if (Object.keys(record).sort().join(',') !== FIELDS)
    throw tokenInvalid(TICKET_TOKEN, 'unexpected fields');
  const { v, user, gateway, iat, exp } = record;
  if (v !== 1 || !isText(user) || !isText(gateway))
    throw tokenInvalid(TICKET_TOKEN, 'malformed claims');
  if (!Number.isSafeInteger(iat) || !Number.isSafeInteger(exp))
    throw tokenInvalid(TICKET_TOKEN, 'times must be integers');
  if ((exp as number) <= now) throw tokenInvalid(TICKET_TOKEN, 'expired');
  if ((exp as number) - (iat as number) > USER_TICKET_TTL_MS)
    throw tokenInvalid(TICKET_TOKEN, 'lifetime out of range');
  return { v, user, gateway, iat: iat as number, exp: exp as number };
}
