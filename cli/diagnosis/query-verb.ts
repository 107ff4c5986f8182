// What the query verbs share: where the collector is, the time window, JSON
// output, and the one-line usage error.
import { parseArgs } from 'node:util';
import {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  collectorConnection,
} from '../collector-connection.js';
import type { CollectorConnection } from '../collector-connection.js';
import type { QueryClient } from '../query-client.js';
import { TimeWindowError, sqlTime, timeWindow } from './time-window.js';
import type { TimeWindow } from './time-window.js';

export class QueryVerbUsageError extends Error {
  override name = 'QueryVerbUsageError';
}

export interface QueryVerbConfig {
  /** The collector's query address and security (default $RSTSCOPE_SERVER, then DEFAULT_QUERY_ADDRESS). */
  connection: CollectorConnection;
  /** JSON lines instead of words and tables (default false). */
  json: boolean;
  window: TimeWindow;
  positionals: string[];
}

export const QUERY_VERB_OPTIONS = `${CONNECTION_USAGE}
  --since AGE         the window up to now, e.g. 15m, 1h, 7d
  --from TIME --to TIME
                      an absolute window in UTC, e.g. 2026-11-21T10:00:00Z
  --json              one JSON object per line for scripts`;

export function loadQueryVerbConfig(
  verb: string,
  argv: string[],
  env: NodeJS.ProcessEnv,
  defaultSince: string,
): QueryVerbConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ...CONNECTION_OPTIONS,
        json: { type: 'boolean', default: false },
        since: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new QueryVerbUsageError(`${(err as Error).message}; see 'rstscope ${verb} --help'`);
  }
  const { values, positionals } = parsed;
  const connection = collectorConnection(values, env, (m) => new QueryVerbUsageError(m));
  let window: TimeWindow;
  try {
    window = timeWindow(values, defaultSince);
  } catch (err) {
    if (err instanceof TimeWindowError) throw new QueryVerbUsageError(err.message);
    throw err;
  }
  return { connection, json: values.json, window, positionals };
}

/** Rows of one read-only query, as objects; the window is bound as {from} and {to}. */
export async function queryRows<T>(
  client: QueryClient,
  sql: string,
  window: TimeWindow,
  params: Record<string, string> = {},
): Promise<T[]> {
  const response = await client.sql({
    sql,
    params: { from: sqlTime(window.from), to: sqlTime(window.to), ...params },
    max_rows: 10_000,
    timeout_ms: 0,
  });
  return response.rows.map((row) => JSON.parse(row) as T);
}

/** A condition keeping `column` inside the bound window. */
export const inWindow = (column = 'ts') =>
  `${column} >= {from:DateTime64(9)} AND ${column} <= {to:DateTime64(9)}`;
