export {
  ASCIICAST_VERSION,
  EVENT_CODES,
  encodeEventLine,
  encodeHeaderLine,
  type AsciicastHeader,
  type GatehouseCastInfo,
  type TermInfo,
} from './asciicast-format.js';
export {
  AsciicastWriter,
  FLUSH_INTERVAL_MS,
  FLUSH_THRESHOLD_BYTES,
  MAX_BUFFERED_BYTES,
  type AsciicastWriterOptions,
  type MonotonicClock,
  type RecordingMeta,
  type RecordingResult,
} from './asciicast-writer.js';
export {
  AsciicastReader,
  exportCast,
  MAX_LINE_BYTES,
  type AsciicastEvent,
  type AsciicastReadOptions,
} from './asciicast-reader.js';
export {
  renderToTerminal,
  type EventSource,
  type RenderOptions,
  type RenderSummary,
} from './render-to-terminal.js';
export {
  EchoTracker,
  ECHO_WINDOW_MS,
  MASK_CHAR,
  maskedText,
  type EchoTrackerOptions,
  type SettledInput,
} from './echo-tracker.js';
export { echoWindowFor, ECHO_WINDOW_ROUND_TRIPS, MAX_ECHO_WINDOW_MS } from './echo-window.js';
export { CommandLineTracker, MAX_COMMAND_CHARS, type CommandLine } from './command-line-tracker.js';
export { openFileSink, RECORDING_FILE_MODE, type RecordingSink } from './recording-sink.js';
export {
  DirRecordingStore,
  RECORDING_DIR_MODE,
  type DirRecordingStoreOptions,
  type OpenedRecording,
  type RecordingStore,
} from './recording-store.js';
export { assertRecordingRelPath, assertSafeSid, recordingFileName } from './recording-names.js';
export {
  DB_TRANSCRIPT_FORMAT,
  DB_TRANSCRIPT_VERSION,
  DbTranscriptStore,
  DbTranscriptWriter,
  isDbTranscriptPath,
  readDbTranscript,
  type DbTranscript,
  type DbTranscriptEntry,
  type DbTranscriptHeader,
  type DbTranscriptMeta,
  type DbTranscriptResult,
  type DbTranscriptWriterOptions,
  type OpenedDbTranscript,
} from './db-transcript.js';
