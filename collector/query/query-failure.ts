// What a failed user query means to the caller, as a gRPC status with a
// one-line detail. The caller sees the reason (bad SQL, too slow, storage gone),
// never a stack trace; the log keeps the full error.
import { status as GrpcStatus } from '@grpc/grpc-js';
import {
  engineErrorLine,
  NETWORK_ERRNOS,
  QueryRefusedError,
  QueryTimeoutError,
} from '../storage/errors.js';
import { formatMs } from './query-limits.js';

export interface QueryFailure {
  code: GrpcStatus;
  details: string;
}

// ClickHouse errors that mean "your query is wrong", by the name ClickHouse puts
// at the end of its message and in @clickhouse/client's `type`.
const USER_ERRORS = new Set([
  'ACCESS_DENIED',
  'AMBIGUOUS_COLUMN_NAME',
  'BAD_ARGUMENTS',
  'BAD_QUERY_PARAMETER',
  'CANNOT_CONVERT_TYPE',
  'CANNOT_PARSE_DATE',
  'CANNOT_PARSE_DATETIME',
  'CANNOT_PARSE_INPUT_ASSERTION_FAILED',
  'CANNOT_PARSE_NUMBER',
  'CANNOT_PARSE_QUOTED_STRING',
  'CANNOT_PARSE_TEXT',
  'ILLEGAL_AGGREGATION',
  'ILLEGAL_COLUMN',
  'ILLEGAL_TYPE_OF_ARGUMENT',
  'INCORRECT_QUERY',
  'MULTIPLE_EXPRESSIONS_FOR_ALIAS',
  'NO_COMMON_TYPE',
  'NO_SUCH_COLUMN_IN_TABLE',
  'NOT_AN_AGGREGATE',
  'NOT_FOUND_COLUMN_IN_BLOCK',
  'NUMBER_OF_ARGUMENTS_DOESNT_MATCH',
  'QUERY_IS_PROHIBITED',
  'READONLY',
  'SYNTAX_ERROR',
  'TOO_FEW_ARGUMENTS_FOR_FUNCTION',
  'TOO_MANY_ARGUMENTS_FOR_FUNCTION',
  'TYPE_MISMATCH',
  'UNKNOWN_AGGREGATE_FUNCTION',
  'UNKNOWN_DATABASE',
  'UNKNOWN_FORMAT',
  'UNKNOWN_FUNCTION',
  'UNKNOWN_IDENTIFIER',
  'UNKNOWN_QUERY_PARAMETER',
  'UNKNOWN_SETTING',
  'UNKNOWN_TABLE',
  'UNKNOWN_TYPE',
]);

// TOO_SLOW: ClickHouse predicted from the first blocks that the query would
// exceed its time limit and stopped it early; to the caller that is a timeout.
const TIMEOUT_ERRORS = new Set(['TIMEOUT_EXCEEDED', 'TOO_SLOW']);

// The user's query asked for more memory or data than the server allows: the
// query must shrink, retrying the same one will not help.
const SIZE_ERRORS = new Set([
  'MEMORY_LIMIT_EXCEEDED',
  'TOO_MANY_BYTES',
  'TOO_MANY_ROWS',
  'TOO_MANY_ROWS_OR_BYTES',
]);

const MAX_DETAIL_CHARS = 500;

export function queryFailure(err: unknown, timeoutMs: number): QueryFailure {
  const chain = causeChain(err);
  const names = chain.map((e) => engineErrorLine(e).type);
  const named = names.findIndex((found) => found !== undefined);
  const name = names[named];
  // The ClickHouse error itself says best what is wrong with the query.
  const clickHouseError = chain[named];
  if (chain.some((e) => e instanceof QueryTimeoutError) || (name && TIMEOUT_ERRORS.has(name))) {
    return {
      code: GrpcStatus.DEADLINE_EXCEEDED,
      details: `query timed out after ${formatMs(timeoutMs)}`,
    };
  }
  const refused = chain.find((e) => e instanceof QueryRefusedError);
  if (refused) return { code: GrpcStatus.INVALID_ARGUMENT, details: oneLine(refused) };
  if (name && USER_ERRORS.has(name)) {
    return { code: GrpcStatus.INVALID_ARGUMENT, details: oneLine(clickHouseError) };
  }
  if (name && SIZE_ERRORS.has(name)) {
    return { code: GrpcStatus.RESOURCE_EXHAUSTED, details: oneLine(clickHouseError) };
  }
  if (chain.some(isNetworkError)) {
    return {
      code: GrpcStatus.UNAVAILABLE,
      details: `storage unreachable: ${oneLine(chain[0])}`,
    };
  }
  return { code: GrpcStatus.INTERNAL, details: oneLine(chain[0]) };
}

function causeChain(err: unknown): unknown[] {
  const chain = [err];
  // Bounded: a cause cycle must not hang the handler.
  while (chain.length < 8) {
    const cause = (chain[chain.length - 1] as { cause?: unknown } | null)?.cause;
    if (cause === undefined || chain.includes(cause)) break;
    chain.push(cause);
  }
  return chain;
}

function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NETWORK_ERRNOS.has(code);
}

/** The engine's message as one bounded line, its error name at the end. */
function oneLine(err: unknown): string {
  const { line } = engineErrorLine(err);
  return line.length > MAX_DETAIL_CHARS ? `${line.slice(0, MAX_DETAIL_CHARS - 1)}…` : line;
}
