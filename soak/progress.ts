/** Writes a progress line to stderr (stdout carries only the report). */
export function progress(message: string): void {
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
