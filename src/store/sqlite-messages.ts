/** What the SQLite worker thread is started with. */
export interface SqliteThreadOptions {
  readonly path: string;
  /** `journal_mode = WAL`, … applied in order when the connection opens. */
  readonly pragmas: readonly string[];
}

/** One statement to run; a request without `sql` closes the connection. */
export interface SqliteRequest {
  readonly id: number;
  readonly sql?: string;
  readonly params: readonly unknown[];
}

/** The answer to request `id`: rows (or the counts of a write), or the error it raised. */
export type SqliteResponse =
  | {
      readonly id: number;
      readonly rows: Record<string, unknown>[];
      readonly changes?: number;
      readonly lastInsertRowid?: number;
      readonly error?: undefined;
    }
  | {
      readonly id: number;
      readonly error: { readonly message: string; readonly code?: string; readonly name?: string };
    };
