import { systemClock, type Clock } from '../../core/clock.js';
import type { SftpAuditEvent, SftpAuditStats, SftpDirection, SftpOutcome } from './audit-events.js';
import {
  cutPath,
  openModes,
  statusOutcome,
  truncatedFlag,
  unknownOutcome,
  type CutPath,
} from './audit-format.js';
import { SFTP_VERSION, SftpStatusCode } from './constants.js';
import type { SftpClientMessage, SftpServerMessage } from './messages.js';
import { operationEvent, type Operation } from './audit-operations.js';
import { OrderedTable } from './ordered-table.js';
import type { SftpDesync } from './packet-reader.js';
import { isOperation, pathChars, toPending, type Pending } from './pending-request.js';
import { RequestTable } from './request-table.js';

/** Default cap on outstanding requests tracked per channel. */
export const SFTP_MAX_PENDING_REQUESTS = 10_000;
/** Default cap on open files tracked per channel. */
export const SFTP_MAX_OPEN_HANDLES = 10_000;
/** Default length (UTF-16 units) paths are cut to in events. */
export const SFTP_MAX_AUDIT_PATH_LENGTH = 4096;
/** Default cap on the path characters held by outstanding requests (about 4 MB). */
export const SFTP_MAX_PENDING_PATH_CHARS = 4 * 1024 * 1024;
/** Anomaly events reported per channel; later ones are only counted. */
export const SFTP_MAX_ANOMALY_EVENTS = 20;

/** Dependencies and limits of {@link SftpAuditTracker}. */
export interface SftpAuditTrackerOptions {
  /** Receives every event, synchronously, in the order the replies arrived. */
  readonly onEvent: (event: SftpAuditEvent) => void;
  /** Receives what `onEvent` throws (the tracker carries on). */
  readonly onError?: (error: unknown) => void;
  readonly clock?: Clock;
  readonly maxPendingRequests?: number;
  readonly maxPendingPathChars?: number;
  readonly maxOpenHandles?: number;
  readonly maxPathLength?: number;
}

interface OpenFile {
  readonly path: CutPath;
  readonly pflags: number;
  readonly openedAt: number;
  bytesRead: number;
  bytesWritten: number;
  writeErrors: number;
}

/**
 * Follows one SFTP channel's decoded requests and replies, matched by request id, and reports
 * what happened to files: opens (with the server's answer), closes with the bytes read and
 * written through the handle, and every change to the file system. Its tables are bounded, so
 * a hostile peer costs at most a few tens of MB per channel and some lost detail, counted in
 * {@link SftpAuditTracker.stats}.
 */
export class SftpAuditTracker {
  readonly #onEvent: (event: SftpAuditEvent) => void;
  readonly #onError: (error: unknown) => void;
  readonly #clock: Clock;
  readonly #maxOpenHandles: number;
  readonly #maxPathLength: number;
  readonly #pending: RequestTable<Pending>;
  readonly #files = new OrderedTable<string, OpenFile>();
  readonly #stats = {
    droppedRequests: 0,
    droppedHandles: 0,
    unmatchedResponses: 0,
    reusedRequestIds: 0,
    badPackets: 0,
    suppressedAnomalies: 0,
  };
  #anomalies = 0;
  #hasEnded = false;

  constructor(options: SftpAuditTrackerOptions) {
    this.#onEvent = options.onEvent;
    this.#onError = options.onError ?? (() => undefined);
    this.#clock = options.clock ?? systemClock;
    this.#maxOpenHandles = Math.max(1, options.maxOpenHandles ?? SFTP_MAX_OPEN_HANDLES);
    this.#maxPathLength = Math.max(1, options.maxPathLength ?? SFTP_MAX_AUDIT_PATH_LENGTH);
    this.#pending = new RequestTable<Pending>({
      maxEntries: options.maxPendingRequests ?? SFTP_MAX_PENDING_REQUESTS,
      maxWeight: options.maxPendingPathChars ?? SFTP_MAX_PENDING_PATH_CHARS,
      onEvict: (_id, pending) => this.#evictRequest(pending),
    });
  }

  /** What the tracker could not follow so far. */
  get stats(): SftpAuditStats {
    return { ...this.#stats };
  }

  /** Requests awaiting a reply. */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  /** Files open (handle received, close not yet answered). */
  get openFiles(): number {
    return this.#files.size;
  }

  /** Takes one client→server message. */
  onClientMessage(message: SftpClientMessage): void {
    if (this.#hasEnded) return;
    switch (message.kind) {
      case 'init':
        return;
      case 'malformed':
      case 'unknown':
        this.#stats.badPackets += 1;
        this.#anomaly('client', message.type, describeBad(message));
        return;
      default: {
        const pending = toPending(message, (path) => this.#cut(path));
        const isReused = this.#pending.add(message.id, pending, pathChars(pending));
        if (isReused) this.#stats.reusedRequestIds += 1;
      }
    }
  }

  /** Takes one server→client message. */
  onServerMessage(message: SftpServerMessage): void {
    if (this.#hasEnded) return;
    if (message.kind === 'version') {
      if (message.version !== SFTP_VERSION) {
        this.#anomaly('server', undefined, `server speaks SFTP version ${message.version}`);
      }
      return;
    }
    if (message.kind === 'malformed' || message.kind === 'unknown') {
      this.#stats.badPackets += 1;
      this.#anomaly('server', message.type, describeBad(message));
    }
    // A malformed reply that still names an id answers that request (as unexpected), so later
    // replies keep matching their requests.
    const id = message.kind === 'unknown' ? undefined : message.id;
    if (id === undefined) return;
    const pending = this.#pending.take(id);
    if (pending === undefined) {
      this.#stats.unmatchedResponses += 1;
      return;
    }
    this.#resolve(pending, message);
  }

  /** Notes that a direction stopped being decodable; later requests there go unseen. */
  onDesync(direction: SftpDirection, desync: SftpDesync): void {
    if (this.#hasEnded) return;
    this.#emit({ type: 'sftp.desync', direction, offset: desync.offset, reason: desync.reason });
  }

  /**
   * The channel closed: reports requests never answered (they may have happened) and closes
   * every file still open with its byte counts so far. Later input is ignored.
   */
  end(): void {
    if (this.#hasEnded) return;
    for (const [, pending] of this.#pending.drain()) {
      if (pending.op === 'open') this.#emitOpen(pending, unknownOutcome('no_reply'));
      else if (isOperation(pending)) this.#emitOperation(pending, unknownOutcome('no_reply'));
    }
    for (const [handle, file] of this.#files.drain()) {
      this.#emitClose(handle, file, 'channel-end', unknownOutcome('no_reply'));
    }
    this.#hasEnded = true;
  }

  #resolve(pending: Pending, reply: SftpServerMessage): void {
    switch (pending.op) {
      case 'open':
        this.#resolveOpen(pending, reply);
        return;
      case 'close': {
        const file = this.#files.get(pending.handle);
        if (file === undefined) return; // a directory, or a file opened before we looked
        this.#files.delete(pending.handle);
        this.#emitClose(pending.handle, file, 'close', statusOutcome(reply));
        return;
      }
      case 'read': {
        const file = this.#files.get(pending.handle);
        if (file !== undefined && reply.kind === 'data') file.bytesRead += reply.dataLength;
        return;
      }
      case 'write': {
        const file = this.#files.get(pending.handle);
        if (file === undefined) return;
        if (reply.kind === 'status' && reply.code === SftpStatusCode.OK) {
          file.bytesWritten += pending.length;
        } else {
          file.writeErrors += 1;
        }
        return;
      }
      case 'other':
        return;
      default:
        this.#emitOperation(pending, statusOutcome(reply));
    }
  }

  #resolveOpen(pending: Extract<Pending, { op: 'open' }>, reply: SftpServerMessage): void {
    if (reply.kind !== 'handle') {
      const outcome = statusOutcome(reply);
      // STATUS OK is no answer to OPEN (filexfer-02 §6.3): no handle, no file.
      this.#emitOpen(
        pending,
        outcome.ok === true ? { ok: null, status: 'unexpected_reply' } : outcome,
      );
      return;
    }
    this.#emitOpen(pending, { ok: true, status: 'ok' }, reply.handle);
    const previous = this.#files.get(reply.handle);
    if (previous !== undefined) {
      this.#files.delete(reply.handle);
      this.#emitClose(reply.handle, previous, 'evicted', unknownOutcome('evicted'));
    }
    if (this.#files.size >= this.#maxOpenHandles) this.#evictOldestFile();
    this.#files.add(reply.handle, {
      path: pending.path,
      pflags: pending.pflags,
      openedAt: this.#clock(),
      bytesRead: 0,
      bytesWritten: 0,
      writeErrors: 0,
    });
  }

  #evictOldestFile(): void {
    const oldest = this.#files.shift();
    if (oldest === undefined) return;
    const [handle, file] = oldest;
    this.#stats.droppedHandles += 1;
    this.#emitClose(handle, file, 'evicted', unknownOutcome('evicted'));
  }

  #evictRequest(pending: Pending): void {
    this.#stats.droppedRequests += 1;
    if (pending.op === 'open') this.#emitOpen(pending, unknownOutcome('evicted'));
    else if (isOperation(pending)) this.#emitOperation(pending, unknownOutcome('evicted'));
  }

  #emitOpen(
    pending: Extract<Pending, { op: 'open' }>,
    outcome: SftpOutcome,
    handle?: string,
  ): void {
    this.#emit({
      type: 'sftp.open',
      path: pending.path.text,
      mode: openModes(pending.pflags),
      pflags: pending.pflags,
      ...(handle === undefined ? {} : { handle }),
      ...outcome,
      ...truncatedFlag(pending.path),
    });
  }

  #emitClose(
    handle: string,
    file: OpenFile,
    reason: 'close' | 'channel-end' | 'evicted',
    outcome: SftpOutcome,
  ): void {
    this.#emit({
      type: 'sftp.close',
      path: file.path.text,
      handle,
      mode: openModes(file.pflags),
      bytesRead: file.bytesRead,
      bytesWritten: file.bytesWritten,
      writeErrors: file.writeErrors,
      durationMs: Math.max(0, this.#clock() - file.openedAt),
      reason,
      ...outcome,
      ...truncatedFlag(file.path),
    });
  }

  #emitOperation(operation: Operation, outcome: SftpOutcome): void {
    this.#emit(operationEvent(operation, outcome, (handle) => this.#files.get(handle)?.path));
  }

  #anomaly(direction: SftpDirection, packetType: number | undefined, reason: string): void {
    if (this.#anomalies >= SFTP_MAX_ANOMALY_EVENTS) {
      this.#stats.suppressedAnomalies += 1;
      return;
    }
    this.#anomalies += 1;
    this.#emit({
      type: 'sftp.anomaly',
      direction,
      ...(packetType === undefined ? {} : { packetType }),
      reason,
    });
  }

  #emit(event: SftpAuditEvent): void {
    try {
      this.#onEvent(event);
    } catch (error) {
      this.#onError(error);
    }
  }

  #cut(path: string): CutPath {
    return cutPath(path, this.#maxPathLength);
  }
}

function describeBad(
  message: { kind: 'malformed'; reason: string } | { kind: 'unknown'; type: number },
): string {
  return message.kind === 'malformed'
    ? `malformed: ${message.reason}`
    : `unknown packet type ${message.type}`;
}
