import type {
  AuthContext,
  KeyboardAuthContext,
  PasswordAuthContext,
  PublicKeyAuthContext,
} from 'ssh2';
import { isGatehouseError, isStoreOutage } from '../core/errors.js';
import { sshKeyFingerprint } from '../identity/ssh-keys.js';
import type { UserProof } from '../lease/user-proof.js';
import { newProofNonce } from '../lease/user-proof.js';
import type { Logger } from '../log/index.js';
import { parseLoginName, type LoginName } from './addressing.js';
import type { GatewayControl, GatewayUser } from '../lease/gateway-control.js';
import type { ProofChecks } from '../listen/index.js';

/** Failed authentication requests allowed per connection before it is closed. */
export const MAX_AUTH_ATTEMPTS = 6;
/** Fingerprints of refused key offers kept for the connection's `auth.failure` event. */
const MAX_REFUSED_KEYS = 8;
const TOKEN_PREFIX = 'ght_';
const TOTP_PROMPT = 'Verification code: ';

/** Options of {@link SshAuthenticator}. */
export interface SshAuthOptions {
  /** The control plane's proof checks (run with the login deadline stopped) and its audit. */
  readonly control: ProofChecks & Pick<GatewayControl, 'audit'>;
  readonly clientAddr: string;
  readonly allowPassword: boolean;
  readonly log: Logger;
  /** Called once the user is authenticated (before ssh2 emits `ready`). */
  readonly onAuthenticated: (auth: GatewayUser, login: LoginName) => void;
  /** Called when the connection must be dropped (too many failures). */
  readonly onGiveUp: () => void;
}

/**
 * SSH user authentication for one connection (RFC 4252). The gateway collects proofs; the
 * control plane verifies them. A public key counts only with a verified signature: an offer
 * without one is answered (PK_OK) but never logs in. Users with TOTP finish with
 * keyboard-interactive. Every failure looks the same to the client.
 */
export class SshAuthenticator {
  readonly #o: SshAuthOptions;
  #failures = 0;
  /** A first-factor proof waiting for the TOTP code. */
  #pending: { login: LoginName; proof: UserProof } | undefined;
  #isDone = false;
  /** Keys offered without a signature and refused (the control plane never saw them). */
  readonly #refusedKeys: { user: string; fingerprint: string }[] = [];
  /** A proof reached the control plane and failed there (it audited the failure itself). */
  #hasAuditedFailure = false;

  constructor(options: SshAuthOptions) {
    this.#o = options;
  }

  /** Handles one ssh2 `authentication` event. */
  handle(ctx: AuthContext): void {
    void this.#handle(ctx).catch((err: unknown) => {
      this.#o.log.error({ err: errorText(err) }, 'ssh authentication handler failed');
      this.#tellUnavailable(ctx, err);
      this.#reject(ctx);
    });
  }

  async #handle(ctx: AuthContext): Promise<void> {
    if (this.#isDone) return ctx.reject();
    const login = parseLoginName(ctx.username);
    if (login === undefined) return this.#fail(ctx);
    switch (ctx.method) {
      case 'none':
        return ctx.reject(this.#methods());
      case 'publickey':
        return this.#publicKey(ctx, login);
      case 'password':
        return this.#password(ctx, login);
      case 'keyboard-interactive':
        return this.#keyboard(ctx, login);
      default:
        return ctx.reject(this.#methods());
    }
  }

  async #publicKey(ctx: PublicKeyAuthContext, login: LoginName): Promise<void> {
    const key = { algo: ctx.key.algo, blob: ctx.key.data };
    if (ctx.signature === undefined || ctx.blob === undefined) {
      // A query ("would this key do?"): PK_OK is not a login (ssh2 sends it on accept()).
      const isOk = await this.#o.control.isKeyAcceptable(login.user, key);
      if (isOk) return ctx.accept();
      if (this.#refusedKeys.length < MAX_REFUSED_KEYS)
        this.#refusedKeys.push({ user: login.user, fingerprint: sshKeyFingerprint(ctx.key.data) });
      // Refused offers count too (like sshd's MaxAuthTries), so keys cannot be probed without end.
      return this.#fail(ctx);
    }
    const proof: UserProof = {
      kind: 'ssh-publickey',
      user: login.user,
      algo: ctx.key.algo,
      keyBlob: ctx.key.data.toString('base64'),
      signedData: ctx.blob.toString('base64'),
      signature: ctx.signature.toString('base64'),
      ...(ctx.hashAlgo === undefined ? {} : { hashAlgo: ctx.hashAlgo }),
    };
    return this.#firstFactor(ctx, login, proof);
  }

  async #password(ctx: PasswordAuthContext, login: LoginName): Promise<void> {
    if (!this.#o.allowPassword) return ctx.reject(this.#methods());
    return this.#firstFactor(ctx, login, passwordProof(login, ctx.password));
  }

  async #keyboard(ctx: KeyboardAuthContext, login: LoginName): Promise<void> {
    const pending = this.#pending;
    if (pending !== undefined && pending.login.user === login.user) {
      const code = await prompt(ctx, TOTP_PROMPT);
      this.#pending = undefined;
      if (code === undefined) return this.#fail(ctx);
      return this.#complete(ctx, login, { ...pending.proof, totp: code });
    }
    if (!this.#o.allowPassword) return ctx.reject(this.#methods());
    // Clients without the password method (or configured for kbd-int) type it here.
    const password = await prompt(ctx, 'Password: ');
    if (password === undefined) return this.#fail(ctx);
    const proof = passwordProof(login, password);
    if (await this.#o.control.needsTotp(login.user)) {
      const code = await prompt(ctx, TOTP_PROMPT);
      if (code === undefined) return this.#fail(ctx);
      return this.#complete(ctx, login, { ...proof, totp: code });
    }
    return this.#complete(ctx, login, proof);
  }

  async #firstFactor(ctx: AuthContext, login: LoginName, proof: UserProof): Promise<void> {
    if (await this.#o.control.needsTotp(login.user)) {
      // Partial success: the proof is verified together with the code, in one call.
      this.#pending = { login, proof };
      return ctx.reject(['keyboard-interactive'], true);
    }
    return this.#complete(ctx, login, proof);
  }

  async #complete(ctx: AuthContext, login: LoginName, proof: UserProof): Promise<void> {
    try {
      const auth = await this.#o.control.authenticate(proof, {
        clientAddr: this.#o.clientAddr,
        via: 'ssh',
      });
      this.#isDone = true;
      this.#o.onAuthenticated(auth, login);
      ctx.accept();
    } catch (err) {
      if (!isGatehouseError(err))
        this.#o.log.error({ err: errorText(err) }, 'ssh authentication failed unexpectedly');
      this.#hasAuditedFailure = true;
      this.#tellUnavailable(ctx, err);
      this.#fail(ctx);
    }
  }

  /**
   * The client connection closed. A client whose keys were all refused at the offer (unknown
   * user, unregistered key, disabled user) never reached the control plane, so nothing was
   * audited: record one `auth.failure` for the connection, as sshd logs "Failed publickey".
   */
  connectionClosed(): void {
    const first = this.#refusedKeys[0];
    if (this.#isDone || this.#hasAuditedFailure || first === undefined) return;
    void this.#o.control
      .audit({
        type: 'auth.failure',
        user: first.user,
        clientAddr: this.#o.clientAddr,
        data: {
          method: 'ssh-publickey',
          reason: 'no-accepted-key',
          fingerprints: this.#refusedKeys
            .filter((k) => k.user === first.user)
            .map((k) => k.fingerprint),
        },
      })
      .catch((err: unknown) =>
        this.#o.log.error({ err: errorText(err) }, 'audit of refused key offers failed'),
      );
  }

  #fail(ctx: AuthContext): void {
    this.#failures += 1;
    this.#reject(ctx);
    if (this.#failures >= MAX_AUTH_ATTEMPTS) this.#o.onGiveUp();
  }

  /**
   * A login that failed because Gatehouse could not decide (store down, internal fault), not
   * because the proof was wrong: say so in a banner, which OpenSSH prints, before the refusal.
   * Wrong proofs keep the plain "Permission denied".
   */
  #tellUnavailable(ctx: AuthContext, err: unknown): void {
    if (isGatehouseError(err) && !isStoreOutage(err)) return;
    sendAuthBanner(ctx, UNAVAILABLE_BANNER);
  }

  #reject(ctx: AuthContext): void {
    try {
      ctx.reject(this.#methods());
    } catch {
      // The client went away meanwhile.
    }
  }

  #methods(): ('publickey' | 'password' | 'keyboard-interactive')[] {
    return this.#o.allowPassword
      ? ['publickey', 'password', 'keyboard-interactive']
      : ['publickey', 'keyboard-interactive'];
  }
}

const UNAVAILABLE_BANNER =
  "gatehouse: sign-in is temporarily unavailable; try again shortly (the reason is in Gatehouse's log)\r\n";

/** USERAUTH_BANNER through the method our ssh2 patch adds (patches/ssh2+1.17.0.patch). */
function sendAuthBanner(ctx: AuthContext, text: string): void {
  const protocol = (ctx as unknown as { _protocol?: { authBanner?: (message: string) => void } })
    ._protocol;
  try {
    protocol?.authBanner?.(text);
  } catch {
    // The client went away meanwhile.
  }
}

function passwordProof(login: LoginName, password: string): UserProof {
  const ts = Date.now();
  const nonce = newProofNonce();
  return password.startsWith(TOKEN_PREFIX)
    ? { kind: 'token', token: password, user: login.user, nonce, ts }
    : { kind: 'password', user: login.user, password, nonce, ts };
}

function prompt(ctx: KeyboardAuthContext, text: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    ctx.prompt([{ prompt: text, echo: false }], (answers) => resolve(answers[0]));
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
