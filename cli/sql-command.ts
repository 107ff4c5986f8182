// `rstscope sql`: one read-only SELECT on the collector, printed as a table for
// people or as JSON lines for scripts.
import { DEFAULT_SQL_ROWS, DEFAULT_SQL_TIMEOUT_MS } from '../collector/query/query-limits.js';
import { CONNECTION_OPTIONS, CONNECTION_USAGE } from './collector-connection.js';
import type { CollectorConnection } from './collector-connection.js';
import {
  JSON_OPTION,
  QueryVerbUsageError,
  STANDARD_IO,
  parseVerbArgs,
  runQueryVerb,
  verbConnection,
} from './query/query-verb.js';
import type { QueryIo } from './query/query-verb.js';
import { formatTable } from './sql-table.js';

const MAX_UINT32 = 0xffff_ffff;
const WRITE_CHUNK_LINES = 1_000;

export const SQL_USAGE = `usage: rstscope sql [--server HOST:PORT] [--json] [--param NAME=VALUE]...
                    [--max-rows N] [--timeout DURATION] "<SQL>"

Runs one read-only SELECT on the collector and prints the rows.
${CONNECTION_USAGE}
  --json              one JSON object per row on stdout, as the server sent it
  --param NAME=VALUE  the value of a {NAME:Type} placeholder (repeatable)
  --max-rows N        at most N rows (default: the server's, ${DEFAULT_SQL_ROWS})
  --timeout DURATION  stop the query after e.g. 500ms, 30s, 2m
                      (default: the server's, ${DEFAULT_SQL_TIMEOUT_MS / 1000}s)

examples:
  rstscope sql "SELECT host, direction, reason, count() AS resets FROM resets
                GROUP BY ALL ORDER BY resets DESC LIMIT 20"
  rstscope sql --json --param host=web-1 --param since='2025-06-01 00:00:00' \\
    "SELECT * FROM resets WHERE host = {host:String} AND ts >= {since:DateTime64(9)}"`;

interface SqlCommandConfig {
  /** The collector's query address and security (default $RSTSCOPE_SERVER, then DEFAULT_QUERY_ADDRESS). */
  connection: CollectorConnection;
  /** JSON lines instead of a table (default false). */
  json: boolean;
  /** Placeholder values by name (default none). */
  params: Record<string, string>;
  /** 0: the server's default. */
  maxRows: number;
  /** 0: the server's default. */
  timeoutMs: number;
  sql: string;
}

/** Validates flags and environment; throws QueryVerbUsageError with one line. */
function loadSqlConfig(argv: string[], env: NodeJS.ProcessEnv): SqlCommandConfig {
  const { values, positionals } = parseVerbArgs('sql', argv, {
    ...CONNECTION_OPTIONS,
    ...JSON_OPTION,
    param: { type: 'string', multiple: true, default: [] },
    'max-rows': { type: 'string' },
    timeout: { type: 'string' },
  });
  if (positionals.length !== 1 || positionals[0]!.trim() === '') {
    throw new QueryVerbUsageError(
      positionals.length > 1
        ? `expected the SQL as one argument, got ${positionals.length}; quote it: rstscope sql "SELECT ..."`
        : 'expected the SQL to run: rstscope sql "SELECT ..."',
    );
  }
  return {
    connection: verbConnection(values, env),
    json: values.json,
    params: paramValues(values.param),
    maxRows: values['max-rows'] === undefined ? 0 : rowCount(values['max-rows']),
    timeoutMs: values.timeout === undefined ? 0 : durationMs(values.timeout),
    sql: positionals[0]!,
  };
}

/** Runs `rstscope sql`; resolves to the exit code (2: bad usage, 1: the query failed). */
export function runSqlCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: QueryIo = STANDARD_IO,
): Promise<number> {
  return runQueryVerb(
    'sql',
    io,
    () => loadSqlConfig(argv, env),
    async (client, config, track) => {
      const response = await track(
        client.sql({
          sql: config.sql,
          params: config.params,
          max_rows: config.maxRows,
          timeout_ms: config.timeoutMs,
        }),
      );
      const lines = config.json ? response.rows : formatTable(response.columns, response.rows);
      for (let i = 0; i < lines.length; i += WRITE_CHUNK_LINES) {
        io.stdout.write(lines.slice(i, i + WRITE_CHUNK_LINES).join('\n') + '\n');
      }
      const count = `${response.rows.length} row${response.rows.length === 1 ? '' : 's'}`;
      if (response.truncated) {
        io.stderr.write(
          `${count} (truncated at ${response.rows.length}; --max-rows raises the limit)\n`,
        );
      } else if (!config.json) {
        io.stderr.write(`${count}\n`);
      }
      return 0;
    },
  );
}

function paramValues(pairs: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new QueryVerbUsageError(`--param ${pair}: expected NAME=VALUE, NAME as in {NAME:Type}`);
    }
    if (name in params) throw new QueryVerbUsageError(`--param ${name} given twice`);
    params[name] = pair.slice(eq + 1);
  }
  return params;
}

function rowCount(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > MAX_UINT32) {
    throw new QueryVerbUsageError(`--max-rows ${text}: expected a whole number of rows, 1 or more`);
  }
  return n;
}

/** 500ms, 30s, 2m, 1h; a bare number is seconds. */
function durationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  const scale = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match?.[2] ?? 's'] ?? NaN;
  const ms = match ? Math.ceil(Number(match[1]) * scale) : NaN;
  if (!(ms >= 1 && ms <= MAX_UINT32)) {
    throw new QueryVerbUsageError(
      `--timeout ${text}: expected a duration such as 500ms, 30s or 2m`,
    );
  }
  return ms;
}
