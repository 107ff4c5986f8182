// The diagnosis RPCs' failures as gRPC statuses: the caller's mistake
// (INVALID_ARGUMENT), nothing found (NOT_FOUND), or the storage's failure in
// the same words Sql uses (queryFailure). Never a stack trace.
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { QueryServiceDeps } from './query-deps.js';
import { queryFailure } from './query-failure.js';
import type { QueryFailure } from './query-failure.js';
import { msUntil } from './query-limits.js';
import { ResetFilterError } from './reset-filter.js';
import { RpcQueries } from './rpc-queries.js';

/** A request field the RPC cannot use; the message names it and the form it takes. */
export class RpcArgumentError extends Error {
  override name = 'RpcArgumentError';
}

/** The request was fine and nothing matched it; the message says what to widen. */
export class RpcNotFoundError extends Error {
  override name = 'RpcNotFoundError';
}

function rpcFailure(err: unknown, timeoutMs: number): QueryFailure {
  if (err instanceof ResetFilterError || err instanceof RpcArgumentError) {
    return { code: GrpcStatus.INVALID_ARGUMENT, details: err.message };
  }
  if (err instanceof RpcNotFoundError) return { code: GrpcStatus.NOT_FOUND, details: err.message };
  return queryFailure(err, timeoutMs);
}

/**
 * A unary handler from an async function, given the call's queries: they share
 * one time budget, the server's SQL timeout cut to the caller's deadline, which
 * is also what a timeout's words name.
 */
export function unaryHandler<Req, Res>(
  method: string,
  deps: Pick<QueryServiceDeps, 'storage' | 'limits' | 'log'>,
  handle: (request: Req, queries: RpcQueries) => Promise<Res>,
) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const queries = new RpcQueries(deps.storage, deps.limits, msUntil(call.getDeadline()));
    handle(call.request, queries).then(
      (response) => callback(null, response),
      (err: unknown) => {
        const failure = rpcFailure(err, queries.timeoutMs);
        const context = { method, peer: call.getPeer(), code: GrpcStatus[failure.code] };
        // The caller's mistakes are routine; the server's own failures need a look.
        if (failure.code === GrpcStatus.UNAVAILABLE || failure.code === GrpcStatus.INTERNAL) {
          deps.log.error({ ...context, err }, 'query call failed');
        } else {
          deps.log.warn({ ...context, detail: failure.details }, 'query call failed');
        }
        callback(failure);
      },
    );
  };
}
