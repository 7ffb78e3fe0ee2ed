import type { FastifyReply } from 'fastify';
import type { ErrorCode, GatehouseError } from '../core/errors.js';

/** HTTP status of each error code an API caller can meet; anything else is a 500. */
const STATUS_OF_CODE: Partial<Record<ErrorCode, number>> = {
  GH_INVALID_ARGUMENT: 400,
  GH_AUTH_REQUIRED: 401,
  GH_AUTH_FAILED: 401,
  GH_PROOF_REPLAYED: 401,
  GH_FORBIDDEN: 403,
  GH_CSRF_REJECTED: 403,
  GH_ACCESS_DENIED: 403,
  GH_UNKNOWN_TARGET: 403,
  GH_NOT_FOUND: 404,
  GH_ALREADY_EXISTS: 409,
  GH_NO_CREDENTIAL: 409,
  GH_RECORDING_INVALID: 422,
  GH_ROTATION_FAILED: 502,
  GH_UPSTREAM_UNREACHABLE: 502,
  GH_UPSTREAM_AUTH_FAILED: 502,
  GH_STORE_UNAVAILABLE: 503,
  GH_SERVICE_UNAVAILABLE: 503,
  GH_KMS_UNAVAILABLE: 503,
  GH_AUDIT_WRITE_FAILED: 503,
};

/** The HTTP status for `code`. */
export function httpStatusOf(code: ErrorCode): number {
  return STATUS_OF_CODE[code] ?? 500;
}

/** An RFC 9457 problem document with Gatehouse's public error fields. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: ErrorCode;
  readonly hint?: string;
}

/** The problem document for `err`: public fields only (never `detail` or `cause`). */
export function problemOf(err: GatehouseError): Problem {
  const pub = err.toPublic();
  return {
    type: `urn:gatehouse:error:${pub.code}`,
    title: pub.message,
    status: httpStatusOf(pub.code),
    code: pub.code,
    ...(pub.hint === undefined ? {} : { hint: pub.hint }),
  };
}

/** Sends `err` as `application/problem+json`. */
export function sendProblem(reply: FastifyReply, err: GatehouseError): FastifyReply {
  const problem = problemOf(err);
  return reply.code(problem.status).type('application/problem+json').send(problem);
}
