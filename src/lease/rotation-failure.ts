import { GatehouseError, isGatehouseError } from '../core/errors.js';

// What a failed credential rotation says: its reason (audited in
// `admin.credential.rotate_failed`) and the error the operator reads.

/** Why a rotation failed; the `reason` of `admin.credential.rotate_failed`. */
export type RotationFailureReason =
  | 'no-credential'
  | 'busy'
  | 'unreachable'
  | 'auth-failed'
  | 'connect-failed'
  | 'change-refused'
  | 'verify-failed'
  | 'store-failed';

/** Facts a failure adds to `admin.credential.rotate_failed`. */
export interface RotationFailureExtra {
  readonly step: 'check' | 'seal' | 'store' | 'connect' | 'decrypt' | 'change' | 'verify';
  /** Set once the target's password was changed: whether the old one was set back. */
  readonly isReverted?: boolean;
}

const FAILURES: Record<
  RotationFailureReason,
  { readonly message: string; readonly hint?: string }
> = {
  'no-credential': { message: 'credential rotation failed: no password is set for this target' },
  busy: {
    message: 'credential rotation failed: another rotation of this target is in progress',
    hint: 'try again in a few minutes',
  },
  unreachable: {
    message: 'credential rotation failed: the target cannot be reached',
    hint: 'the credential is unchanged; try again when the target is up',
  },
  'auth-failed': {
    message: 'credential rotation failed: the target refused the current password',
    hint: 'set the password the target accepts with "gatehouse credential set TARGET", then rotate',
  },
  'connect-failed': { message: 'credential rotation failed: the target refused the connection' },
  'change-refused': {
    message: 'credential rotation failed: the target refused the password change',
    hint: 'the leased account must be allowed to change its own password',
  },
  'verify-failed': { message: 'credential rotation failed: the new password did not work' },
  'store-failed': { message: 'credential rotation failed: the new version could not be stored' },
};

/** Thrown inside a rotation: the reason to audit and the error to raise. */
export class RotationFailure extends Error {
  constructor(
    readonly reason: RotationFailureReason,
    readonly error: GatehouseError,
    readonly extra: RotationFailureExtra,
  ) {
    super(error.message);
  }
}

/**
 * The failure for `reason` (GH_NO_CREDENTIAL or GH_ROTATION_FAILED). `detail` goes into the
 * error and the audit: the caller has removed every secret from it.
 */
export function rotationFailure(
  reason: RotationFailureReason,
  detail: string,
  extra: RotationFailureExtra,
): RotationFailure {
  // After a failed revert the target may already hold the new password.
  const spec =
    extra.isReverted === false
      ? {
          message:
            'credential rotation failed: the target may hold a password that is not active yet',
          hint: 'the new version is kept as pending; the next rotation finds and promotes it',
        }
      : FAILURES[reason];
  const code = reason === 'no-credential' ? 'GH_NO_CREDENTIAL' : 'GH_ROTATION_FAILED';
  const error = new GatehouseError(code, {
    message: spec.message,
    ...(spec.hint === undefined ? {} : { hint: spec.hint }),
    detail: `${extra.step}: ${detail}`,
  });
  return new RotationFailure(reason, error, extra);
}

/**
 * The reason for an applier's error: an unreachable target, or a refused login before the
 * change, keep their own reason; anything else is `fallback`.
 */
export function failureReasonOf(
  err: unknown,
  fallback: RotationFailureReason,
  step: RotationFailureExtra['step'],
): RotationFailureReason {
  if (isGatehouseError(err, 'GH_UPSTREAM_UNREACHABLE')) return 'unreachable';
  if (isGatehouseError(err, 'GH_UPSTREAM_AUTH_FAILED') && step === 'connect') return 'auth-failed';
  return fallback;
}

/** A thrown value as a failure's detail: a GatehouseError's message and detail, or the message. */
export function describeRotationError(err: unknown): string {
  if (err instanceof GatehouseError)
    return err.detail === undefined ? err.message : `${err.message}: ${err.detail}`;
  return err instanceof Error ? err.message : String(err);
}
