import pino, { type Logger, type DestinationStream } from 'pino';

/** Paths whose values are replaced by `[redacted]` in every log line. */
export const REDACTED_LOG_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'credential',
  '*.credential',
  'privateKey',
  '*.privateKey',
  'plaintext',
  '*.plaintext',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** Logger options. */
export interface LoggerOptions {
  readonly level?: string;
  /** Pretty-print for a human; default: when stderr is a TTY. */
  readonly isPretty?: boolean;
  readonly destination?: DestinationStream;
}

/** The process logger: JSON lines on stderr (pretty on a TTY), secrets redacted by path. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const base = {
    level: options.level ?? 'info',
    redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
    base: { name: 'gatehouse' },
  };
  if (options.destination !== undefined) return pino(base, options.destination);
  const isPretty = options.isPretty ?? process.stderr.isTTY;
  if (isPretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { destination: 2 } } });
  }
  return pino(base, pino.destination(2));
}

export type { Logger };
