/** What kind of damage `verifyAuditChain` found. */
export type AuditProblemKind =
  /** An event's content or hash was edited, or it no longer chains from its predecessor. */
  | 'hash-mismatch'
  /** Events are missing from the middle of the chain. */
  | 'gap'
  /** An event sits at another seq than the one it was written with. */
  | 'order'
  /** The chain head row disagrees with the events, or events exist beyond it. */
  | 'head-mismatch'
  /** The newest events are gone: the head or a checkpoint names events the store lacks. */
  | 'store-truncated'
  /** A checkpoint (store or sink) is not signed by the control-plane key. */
  | 'checkpoint-signature'
  /** A correctly signed checkpoint names a hash the stored chain does not have. */
  | 'checkpoint-mismatch'
  /** The sink file does not exist although the chain has events. */
  | 'sink-missing'
  /** The sink lacks checkpoints the store has, or its last line is cut off. */
  | 'sink-truncated'
  /** A sink line is not a checkpoint. */
  | 'sink-malformed';

/** One finding of `verifyAuditChain`. */
export interface AuditProblem {
  readonly kind: AuditProblemKind;
  /** The first event the finding is about, when it is about events. */
  readonly seq?: number;
  readonly message: string;
}

/** Findings kept in a report; beyond this they are only counted. */
export const MAX_REPORTED_PROBLEMS = 1_000;

/** Collects findings, bounded so a wholesale rewrite cannot exhaust memory. */
export class ProblemList {
  readonly #problems: AuditProblem[] = [];
  #omitted = 0;

  /** Records one finding. */
  add(kind: AuditProblemKind, seq: number | undefined, message: string): void {
    if (this.#problems.length >= MAX_REPORTED_PROBLEMS) {
      this.#omitted += 1;
      return;
    }
    this.#problems.push(seq === undefined ? { kind, message } : { kind, seq, message });
  }

  /** Number of findings dropped past {@link MAX_REPORTED_PROBLEMS}. */
  get omitted(): number {
    return this.#omitted;
  }

  /** Findings ordered by seq (findings without one last), in discovery order otherwise. */
  sorted(): AuditProblem[] {
    const key = (p: AuditProblem): number => p.seq ?? Number.MAX_SAFE_INTEGER;
    return [...this.#problems].sort((a, b) => key(a) - key(b));
  }
}

/** `event 7` or `events 7..9`. */
export function describeSeqRange(first: number, last: number): string {
  return first === last ? `event ${first}` : `events ${first}..${last}`;
}

/** `event 7 is missing` or `events 7..9 are missing`. */
export function describeMissing(first: number, last: number): string {
  return `${describeSeqRange(first, last)} ${first === last ? 'is' : 'are'} missing`;
}
