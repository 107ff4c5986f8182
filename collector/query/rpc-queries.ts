// The queries one diagnosis RPC runs, as the storage's read-only queries: each
// runs on the users' session with per-query limits (readonly, memory, result
// size) and all of one call's queries share one time budget, the server's
// default SQL timeout cut to the caller's deadline. The SQL is rstscope's own,
// every value bound as a parameter; the caller chooses only values.
import { quoteString } from '../storage/ddl.js';
import type { Storage } from '../storage/storage.js';
import { effectiveLimits } from './query-limits.js';
import type { QueryLimits } from './query-limits.js';

export type QueryParams = Record<string, string>;

export class RpcQueries {
  private readonly startedAt = performance.now();
  /** One call's time budget: the server's default SQL timeout, within the caller's deadline. */
  readonly timeoutMs: number;

  constructor(
    private readonly storage: Pick<Storage, 'readOnlyQuery'>,
    limits: QueryLimits,
    deadlineMs: number,
  ) {
    this.timeoutMs = effectiveLimits({ maxRows: 1, timeoutMs: 0 }, limits, deadlineMs).timeoutMs;
  }

  /**
   * Rows of one SELECT as objects (64-bit integers as strings). `maxRows` is
   * the most the caller can use; the SQL's own LIMIT should say the same.
   */
  async rows<T>(sql: string, params: QueryParams, maxRows: number): Promise<T[]> {
    const left = this.timeoutMs - (performance.now() - this.startedAt);
    const result = await this.storage.readOnlyQuery({
      sql,
      params,
      maxRows: Math.max(1, maxRows),
      // At least a millisecond: the engine's own limit then answers TIMEOUT_EXCEEDED.
      timeoutMs: Math.max(1, Math.floor(left)),
    });
    return result.rows.map((row) => JSON.parse(row) as T);
  }
}

/** An Array(String) parameter in ClickHouse's text form: ['a', 'b']. */
export function stringArray(values: Iterable<string>): string {
  return `[${[...new Set(values)].map(quoteString).join(', ')}]`;
}
