/** Domain types shared by every module. No protocol or storage library is imported here. */

/** The kinds of target Gatehouse can reach. */
export const TARGET_KINDS = ['ssh', 'postgres', 'mysql'] as const;
/** One of {@link TARGET_KINDS}. */
export type TargetKind = (typeof TARGET_KINDS)[number];

/** Built-in roles; custom roles may be added. */
export const BUILTIN_ROLES = ['admin', 'auditor', 'user'] as const;

/** Per-target switches and limits. */
export interface TargetOptions {
  readonly allowPortForwarding: boolean;
  readonly allowFileTransfer: boolean;
  readonly recordInput: boolean;
  /** Record terminal sessions (asciicast); off only where the recording itself is unwanted. Audit events are written either way. */
  readonly recordSessions: boolean;
  readonly readOnly: boolean;
  /** Idle timeout in seconds; 0 disables. */
  readonly idleTimeoutS: number;
  /** Maximum session length in seconds; 0 disables. */
  readonly maxSessionS: number;
  /** Trust the SSH host key on first use instead of requiring `target trust`. */
  readonly trustOnFirstUse: boolean;
  /** Rotation interval for database credentials in seconds; 0 disables. */
  readonly rotateEveryS: number;
}

/** Defaults for {@link TargetOptions}: deny what is optional, record input. */
export const DEFAULT_TARGET_OPTIONS: TargetOptions = {
  allowPortForwarding: false,
  allowFileTransfer: true,
  recordInput: true,
  recordSessions: true,
  readOnly: false,
  idleTimeoutS: 0,
  maxSessionS: 0,
  trustOnFirstUse: false,
  rotateEveryS: 0,
};

/** A server or database reachable through Gatehouse. */
export interface Target {
  readonly id: string;
  readonly name: string;
  readonly kind: TargetKind;
  readonly host: string;
  readonly port: number;
  /** The upstream (leased) account name. */
  readonly username: string;
  readonly database: string | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly options: TargetOptions;
  /** Pinned SSH host key (OpenSSH public key line), if any. */
  readonly hostKey: string | null;
  readonly createdAt: number;
}

/** A person (or robot) known to Gatehouse. */
export interface User {
  readonly id: string;
  readonly name: string;
  readonly roles: readonly string[];
  readonly isDisabled: boolean;
  readonly hasTotp: boolean;
  readonly createdAt: number;
}

/** Who a grant is given to. */
export type GrantSubject =
  | { readonly kind: 'user'; readonly name: string }
  | { readonly kind: 'role'; readonly name: string };

/** What a grant covers: one target by name, or every target with a label. */
export type GrantScope =
  | { readonly kind: 'target'; readonly name: string }
  | { readonly kind: 'label'; readonly key: string; readonly value: string };

/** Permission to reach a target (or a labelled set of targets) for a while. */
export interface Grant {
  readonly id: string;
  readonly subject: GrantSubject;
  readonly scope: GrantScope;
  readonly expiresAt: number | null;
  readonly reason: string | null;
  readonly createdBy: string;
  readonly createdAt: number;
  readonly revokedAt: number | null;
  readonly revokedBy: string | null;
}
