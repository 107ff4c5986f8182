// A user's SQL, run read-only and bounded, the same way on both backends:
//  1. formatQuery() parses it as a bound string, so nothing in it executes and
//     more than one statement is a parse error (chDB would run every `;`-separated
//     statement of a query text, EXPLAIN included);
//  2. EXPLAIN AST of that single statement decides whether it may run (query-guard.ts);
//  3. it runs inside `SELECT * FROM (...) LIMIT maxRows+1 SETTINGS ..., readonly=1`,
//     settings per query, because a SET would stay on chDB's session for every later query.
//     As a reader whose settings profile fixes readonly (clickhouse-roles.ts), the
//     query leaves readonly alone: ClickHouse refuses any change of it there.
import { QueryRefusedError, QueryTimeoutError, StorageError, engineErrorLine } from './errors.js';
import { parseExplainAst, refusalReason } from './query-guard.js';
import type { QuerySettings, SqlRunner } from './sql-runner.js';
import type { ReadOnlyQueryRequest, ReadOnlyQueryResult } from './storage.js';

/** Result size a user's query may produce; beyond it, it fails rather than fill memory. */
export const DEFAULT_QUERY_MAX_RESULT_BYTES = 64 * 1024 * 1024;
/** Memory one user's query may use: the embedded engine shares the collector's process. */
export const DEFAULT_QUERY_MAX_MEMORY_BYTES = 1024 * 1024 * 1024;
/** How long past its own limit a query may take before the client gives up on the engine. */
const CLIENT_GRACE_MS = 2_000;

// One document with names and types (meta), rows as arrays, and the engine's own
// statistics: rows_read there counts rows scanned, on both backends alike (chDB's
// ChdbResult.rowsRead counts the rows of the result instead).
const FORMAT = 'JSONCompact';

interface JsonCompact {
  meta: { name: string; type: string }[];
  data: unknown[][];
  statistics?: { rows_read?: number | string };
}

export interface ReadOnlyQueryOptions {
  /** The user's settings profile holds readonly (a role's reader): do not set it. */
  readonlyByProfile?: boolean;
}

/** The per-query settings of a user's query; readonly last so nothing after it changes a limit. */
function readOnlySettings(
  request: ReadOnlyQueryRequest,
  { readonlyByProfile = false }: ReadOnlyQueryOptions,
): QuerySettings {
  return {
    max_execution_time: request.timeoutMs / 1000,
    timeout_overflow_mode: 'throw',
    // The LIMIT makes the row count exact; this stops a result of few huge rows.
    max_result_rows: request.maxRows + 1,
    max_result_bytes: DEFAULT_QUERY_MAX_RESULT_BYTES,
    result_overflow_mode: 'throw',
    max_memory_usage: DEFAULT_QUERY_MAX_MEMORY_BYTES,
    output_format_json_quote_64bit_integers: 1,
    output_format_json_quote_decimals: 1,
    ...(readonlyByProfile ? {} : { readonly: 1 }),
  };
}

export async function readOnlyQuery(
  runner: SqlRunner,
  request: ReadOnlyQueryRequest,
  options: ReadOnlyQueryOptions = {},
): Promise<ReadOnlyQueryResult> {
  validate(request);
  const started = performance.now();
  const sql = await singleStatement(runner, request.sql);
  const reason = refusalReason(parseExplainAst(await explainAst(runner, sql, request.params)));
  if (reason) throw new QueryRefusedError(`query refused: ${reason}`);

  const settings = readOnlySettings(request, options);
  const wrapped =
    `SELECT * FROM (\n${sql}\n) LIMIT ${request.maxRows + 1}\n` +
    `SETTINGS ${Object.entries(settings)
      .map(([name, value]) => `${name} = ${typeof value === 'string' ? `'${value}'` : value}`)
      .join(', ')}`;
  const text = await runner
    .queryText(wrapped, request.params, {
      format: FORMAT,
      settings,
      timeoutMs: request.timeoutMs + CLIENT_GRACE_MS,
    })
    .catch((err: unknown) => {
      throw asQueryError(err, request.timeoutMs);
    });

  const answer = JSON.parse(text) as JsonCompact;
  const names = answer.meta.map((c) => c.name);
  const rows = answer.data
    .slice(0, request.maxRows)
    .map((values) => JSON.stringify(Object.fromEntries(names.map((name, i) => [name, values[i]]))));
  return {
    columns: answer.meta.map(({ name, type }) => ({ name, type })),
    rows,
    truncated: answer.data.length > request.maxRows,
    rowsRead: Number(answer.statistics?.rows_read ?? 0),
    elapsedMs: Math.round(performance.now() - started),
  };
}

function validate(request: ReadOnlyQueryRequest): void {
  if (!Number.isInteger(request.maxRows) || request.maxRows < 1) {
    throw new QueryRefusedError(`maxRows ${request.maxRows}: expected a whole number, 1 or more`);
  }
  if (!Number.isFinite(request.timeoutMs) || request.timeoutMs <= 0) {
    throw new QueryRefusedError(`timeoutMs ${request.timeoutMs}: expected milliseconds above 0`);
  }
  if (request.sql.trim() === '') throw new QueryRefusedError('query refused: the SQL is empty');
}

/** The user's SQL as ClickHouse formats it: one statement, comments and trailing `;` gone. */
async function singleStatement(runner: SqlRunner, sql: string): Promise<string> {
  try {
    const [row] = await runner.query<{ sql: string }>('SELECT formatQuery({sql:String}) AS sql', {
      sql,
    });
    if (!row?.sql) throw new StorageError('formatQuery returned nothing');
    return row.sql;
  } catch (err) {
    const { line, type } = engineErrorLine(err);
    if (/Multi-statements are not allowed/.test(line)) {
      throw new QueryRefusedError('query refused: expected exactly one statement', { cause: err });
    }
    throw new QueryRefusedError(`query refused: it does not parse: ${line}`, { cause: err, type });
  }
}

async function explainAst(
  runner: SqlRunner,
  sql: string,
  params: Record<string, string>,
): Promise<string> {
  try {
    // EXPLAIN needs the parameters bound: an unbound {name:Type} fails here.
    return await runner.queryText(`EXPLAIN AST ${sql}`, params, {
      format: 'TSV',
      settings: {},
      timeoutMs: 10_000,
    });
  } catch (err) {
    const { line, type } = engineErrorLine(err);
    throw new QueryRefusedError(`query refused: ${line}`, { cause: err, type });
  }
}

function asQueryError(err: unknown, timeoutMs: number): StorageError {
  if (err instanceof QueryTimeoutError) return err;
  const { line, type } = engineErrorLine(err);
  if (type === 'TIMEOUT_EXCEEDED' || type === 'TOO_SLOW') {
    return new QueryTimeoutError(`query stopped at its time limit of ${timeoutMs} ms`, {
      cause: err,
      type,
    });
  }
  return err instanceof StorageError ? err : new StorageError(line, { cause: err, type });
}
