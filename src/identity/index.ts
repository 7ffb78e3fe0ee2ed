/** Identities and their proofs: users, roles, passwords, SCRAM, SSH keys, TOTP, tokens, login checks. */
export { Authenticator, type PublicKeyProof, type ScramLogin } from './authenticate.js';
export type {
  AuthContext,
  AuthFailureReason,
  CheckFailure,
  CheckResult,
  LoginCommitHook,
  VerifyOptions,
} from './auth-types.js';
export type { ActorOptions, IdentityDeps, LockoutPolicy, OpenSecret, SealSecret } from './deps.js';
export { lockDurationS } from './lockout.js';
export {
  assertPasswordAcceptable,
  DEFAULT_SCRYPT_PARAMS,
  hashPassword,
  MAX_PASSWORD_BYTES,
  needsRehash,
  verifyPasswordHash,
  type ScryptParams,
} from './passwords.js';
export { saslPrepLite } from './saslprep.js';
export {
  createMockScramVerifier,
  deriveScramVerifier,
  formatScramVerifier,
  parseScramVerifier,
  SCRAM_ITERATIONS,
  ScramServerExchange,
  type DeriveScramOptions,
  type ScramFailureReason,
  type ScramServerOptions,
  type ScramStepResult,
  type ScramVerifier,
} from './scram.js';
export {
  isSshKeyAlgo,
  MIN_RSA_BITS,
  parseSshPublicKey,
  SSH_KEY_ALGOS,
  sshKeyFingerprint,
  verifyPublicKeySignature,
  type SshKeyAlgo,
  type SshPublicKey,
} from './ssh-keys.js';
export { parsePublickeySignedData, type PublickeySignedData } from './ssh-userauth.js';
export {
  hashTokenSecret,
  isTokenShaped,
  TOKEN_PREFIX,
  Tokens,
  type CreatedToken,
  type TokenInfo,
  type TokenVerification,
} from './tokens.js';
export {
  base32Decode,
  base32Encode,
  findTotpStep,
  generateTotpSecret,
  TOTP_DIGITS,
  TOTP_STEP_S,
  TOTP_WINDOW_STEPS,
  totpCode,
  totpStepAt,
  totpUri,
} from './totp.js';
export { isValidName, USER_NAME_PATTERN } from './names.js';
export {
  assertName,
  DEFAULT_USER_ROLES,
  Users,
  type AddUserOptions,
  type SshKeyInfo,
} from './users.js';
