// What the backend-neutral parts (migrations, read-only queries) need from a
// backend: run a statement, read rows, and read one formatted result as text.

/** Settings sent with one query; both backends also accept them in a SETTINGS clause. */
export type QuerySettings = Record<string, string | number>;

export interface SqlRunner {
  /** A statement without result (DDL, ALTER, INSERT ... SELECT); values bound as parameters. */
  command(sql: string, params?: Record<string, unknown>): Promise<void>;
  /** A SELECT, rows as JSON objects with 64-bit integers as strings. */
  query<T>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  /**
   * A SELECT in `format`, as text. `settings` are applied per query (never
   * session-wide); `timeoutMs` is a client-side backstop for the engine's own limit.
   */
  queryText(
    sql: string,
    params: Record<string, unknown>,
    options: { format: string; settings: QuerySettings; timeoutMs: number },
  ): Promise<string>;
}

/** JSONEachRow text for rows. */
export function jsonEachRow(rows: readonly Record<string, unknown>[]): string {
  let text = '';
  for (const row of rows) text += `${toJson(row)}\n`;
  return text;
}

/** JSON where a bigint (a 64-bit value held exactly) becomes a decimal string, as ClickHouse reads it. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, bigintAsString);
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** Rows in a line-per-row payload (TSV escapes newlines inside values). */
export function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return text.endsWith('\n') || text === '' ? n : n + 1;
}
