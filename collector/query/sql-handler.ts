// rstscope.v1.Query/Sql: a user's read-only SQL, bounded by the server's limits.
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { SqlRequest, SqlResponse } from '../../proto/index.js';
import type { Storage } from '../storage/storage.js';
import { queryFailure } from './query-failure.js';
import { effectiveLimits, msUntil } from './query-limits.js';
import type { QueryLimits } from './query-limits.js';

const LOGGED_SQL_CHARS = 2_000;

export function sqlHandler(
  storage: Pick<Storage, 'readOnlyQuery'>,
  limits: QueryLimits,
  log: Logger,
) {
  return (call: ServerUnaryCall<SqlRequest, SqlResponse>, callback: sendUnaryData<SqlResponse>) => {
    const request = call.request;
    if (request.sql.trim() === '') {
      callback({
        code: GrpcStatus.INVALID_ARGUMENT,
        details: 'sql is empty: send one SELECT statement',
      });
      return;
    }
    const { maxRows, timeoutMs } = effectiveLimits(
      { maxRows: request.max_rows, timeoutMs: request.timeout_ms },
      limits,
      msUntil(call.getDeadline()),
    );
    storage.readOnlyQuery({ sql: request.sql, params: request.params, maxRows, timeoutMs }).then(
      (result) =>
        callback(null, {
          columns: result.columns,
          rows: result.rows,
          truncated: result.truncated,
          rows_read: String(result.rowsRead),
          elapsed_ms: result.elapsedMs,
        }),
      (err: unknown) => {
        const failure = queryFailure(err, timeoutMs);
        const context = {
          peer: call.getPeer(),
          code: GrpcStatus[failure.code],
          detail: failure.details,
          sql: request.sql.slice(0, LOGGED_SQL_CHARS),
        };
        // The caller's mistakes are routine; the server's own failures need a look.
        if (failure.code === GrpcStatus.UNAVAILABLE || failure.code === GrpcStatus.INTERNAL) {
          log.error({ ...context, err }, 'sql query failed');
        } else {
          log.warn(context, 'sql query failed');
        }
        callback(failure);
      },
    );
  };
}
