/** How an input broke the oracle. */
export type FindingKind =
  /** A parser threw something other than the project's typed protocol/config errors. */
  | 'unexpected-error'
  /** The code reported an internal fault (a relay ended with internal-error, an audit tap error). */
  | 'internal-error'
  /** An input took longer than the per-input limit (or never finished). */
  | 'hang'
  /** A single allocation far beyond what the input could justify (a declared length trusted). */
  | 'memory'
  /** A promise rejected with nobody listening. */
  | 'unhandled-rejection'
  /** Output that must be storable (audit events) was not. */
  | 'bad-output';

/** An input that broke the oracle. */
export class FuzzFinding extends Error {
  readonly kind: FindingKind;

  constructor(kind: FindingKind, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'FuzzFinding';
    this.kind = kind;
  }

  /** A short stable signature (kind, error name, first stack frame) to count distinct findings. */
  get signature(): string {
    const cause = this.cause instanceof Error ? this.cause : undefined;
    const frame =
      (cause?.stack ?? this.stack ?? '').split('\n').find((l) => l.trim().startsWith('at ')) ?? '';
    return `${this.kind}:${cause?.name ?? ''}:${frame.trim().replace(/:\d+\)?$/, '')}`;
  }
}

/** Error classes a target may raise for bad input. */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** Throws a FuzzFinding unless `err` is one of the `allowed` typed errors. */
export function expectTypedError(
  err: unknown,
  allowed: readonly ErrorClass[],
  where: string,
): void {
  if (err instanceof FuzzFinding) throw err;
  if (allowed.some((cls) => err instanceof cls)) return;
  const name = err instanceof Error ? err.name : typeof err;
  const message = err instanceof Error ? err.message : String(err);
  throw new FuzzFinding('unexpected-error', `${where}: ${name}: ${message}`, { cause: err });
}

/** Largest single Buffer allocation allowed while an input runs. */
export const MAX_ALLOCATION_BYTES = 64 * 1024 * 1024;

let violation: FuzzFinding | undefined;
let isGuardInstalled = false;

/**
 * Makes every Buffer allocation above {@link MAX_ALLOCATION_BYTES} a finding: inputs are at
 * most 1 MiB, so such a buffer can only come from a declared length that was believed. The
 * allocation itself is refused (a RangeError the code under test sees) and the finding is
 * kept even if that code swallows the error.
 */
export function installAllocationGuard(): () => void {
  if (isGuardInstalled) return () => undefined;
  isGuardInstalled = true;
  const names = ['alloc', 'allocUnsafe', 'allocUnsafeSlow', 'concat'] as const;
  const saved = names.map((name) => [name, Object.getOwnPropertyDescriptor(Buffer, name)] as const);
  const alloc = Buffer.alloc.bind(Buffer);
  const allocUnsafe = Buffer.allocUnsafe.bind(Buffer);
  const allocUnsafeSlow = Buffer.allocUnsafeSlow.bind(Buffer);
  const concat = Buffer.concat.bind(Buffer);
  const check = (size: number, what: string): void => {
    if (size > MAX_ALLOCATION_BYTES) {
      const finding = new FuzzFinding('memory', `${what}(${size}) while handling one input`);
      violation ??= finding;
      throw new RangeError(`fuzz allocation guard: ${what}(${size})`);
    }
  };
  Buffer.alloc = (size: number, fill?: string | Uint8Array | number, encoding?: BufferEncoding) => {
    check(size, 'Buffer.alloc');
    return alloc(size, fill, encoding);
  };
  Buffer.allocUnsafe = (size: number) => {
    check(size, 'Buffer.allocUnsafe');
    return allocUnsafe(size);
  };
  Buffer.allocUnsafeSlow = (size: number) => {
    check(size, 'Buffer.allocUnsafeSlow');
    return allocUnsafeSlow(size);
  };
  Buffer.concat = (list: readonly Uint8Array[], totalLength?: number) => {
    let size = totalLength;
    if (size === undefined) {
      size = 0;
      for (const b of list) size += b.length;
    }
    check(size, 'Buffer.concat');
    return totalLength === undefined ? concat(list) : concat(list, totalLength);
  };
  return () => {
    for (const [name, descriptor] of saved)
      if (descriptor !== undefined) Object.defineProperty(Buffer, name, descriptor);
    isGuardInstalled = false;
  };
}
/** Takes the allocation finding recorded since the last call, if any. */
export function takeAllocationViolation(): FuzzFinding | undefined {
  const found = violation;
  violation = undefined;
  return found;
}
