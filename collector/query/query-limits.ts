// How much one user query may cost. A request asks for rows and time; the
// server answers with its default when asked for 0 and never exceeds its maxima,
// because one careless `SELECT *` must not hold the collector's storage hostage.

/** Where `rstscope sql` looks for the collector, and where the collector listens. */
export const DEFAULT_QUERY_ADDRESS = '127.0.0.1:7470';

export const DEFAULT_SQL_ROWS = 10_000;
export const DEFAULT_SQL_TIMEOUT_MS = 30_000;
export const DEFAULT_SQL_MAX_ROWS = 100_000;
export const DEFAULT_SQL_MAX_TIMEOUT_MS = 300_000;

export interface QueryLimits {
  /** Rows when the request says 0 (default 10 000). */
  defaultRows: number;
  /** The most rows any request gets (default 100 000). */
  maxRows: number;
  /** Time when the request says 0, in ms (default 30 s). */
  defaultTimeoutMs: number;
  /** The longest any request may run, in ms (default 300 s). */
  maxTimeoutMs: number;
}

export const DEFAULT_QUERY_LIMITS: Readonly<QueryLimits> = Object.freeze({
  defaultRows: DEFAULT_SQL_ROWS,
  maxRows: DEFAULT_SQL_MAX_ROWS,
  defaultTimeoutMs: DEFAULT_SQL_TIMEOUT_MS,
  maxTimeoutMs: DEFAULT_SQL_MAX_TIMEOUT_MS,
});

export interface EffectiveLimits {
  maxRows: number;
  timeoutMs: number;
}

/**
 * The rows and time one request gets. `deadlineMs` is what is left of the
 * caller's gRPC deadline: running past it would compute an answer nobody reads.
 */
export function effectiveLimits(
  requested: { maxRows: number; timeoutMs: number },
  limits: QueryLimits,
  deadlineMs = Infinity,
): EffectiveLimits {
  const maxRows = Math.min(requested.maxRows || limits.defaultRows, limits.maxRows);
  const timeoutMs = Math.min(
    requested.timeoutMs || limits.defaultTimeoutMs,
    limits.maxTimeoutMs,
    Math.max(1, Math.floor(deadlineMs)),
  );
  return { maxRows, timeoutMs };
}

/** Milliseconds left until a gRPC deadline; Infinity when the caller set none. */
export function msUntil(deadline: Date | number): number {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? at - Date.now() : Infinity;
}

/** Fills in defaults and rejects limits that cannot work; throws RangeError. */
export function resolveQueryLimits(partial: Partial<QueryLimits> = {}): QueryLimits {
  // Lowering only a maximum lowers the default with it: that is what anyone
  // who writes `maxRows: 1000` means.
  const maxRows = partial.maxRows ?? DEFAULT_SQL_MAX_ROWS;
  const maxTimeoutMs = partial.maxTimeoutMs ?? DEFAULT_SQL_MAX_TIMEOUT_MS;
  const limits: QueryLimits = {
    maxRows,
    maxTimeoutMs,
    defaultRows: partial.defaultRows ?? Math.min(DEFAULT_SQL_ROWS, maxRows),
    defaultTimeoutMs: partial.defaultTimeoutMs ?? Math.min(DEFAULT_SQL_TIMEOUT_MS, maxTimeoutMs),
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`query limit ${name}=${value}: expected a positive integer`);
    }
  }
  if (limits.defaultRows > limits.maxRows) {
    throw new RangeError(
      `query limit defaultRows=${limits.defaultRows} exceeds maxRows=${limits.maxRows}`,
    );
  }
  if (limits.defaultTimeoutMs > limits.maxTimeoutMs) {
    throw new RangeError(
      `query limit defaultTimeoutMs=${limits.defaultTimeoutMs} exceeds maxTimeoutMs=${limits.maxTimeoutMs}`,
    );
  }
  return limits;
}

/** A limit as the user gave it back in messages: 30s, 1500ms. */
export function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
