/** Parses a JSON column, returning `fallback` for null. */
export function parseJsonColumn<T>(text: string | null, fallback: T): T {
  return text === null ? fallback : (JSON.parse(text) as T);
}

/** True for a stored 0/1 boolean. */
export function isTrue(value: number): boolean {
  return value === 1;
}
