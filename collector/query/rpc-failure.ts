// The diagnosis RPCs' failures as gRPC statuses: the caller's mistake
// (INVALID_ARGUMENT), nothing found (NOT_FOUND), or the storage's failure in
// the same words Sql uses (queryFailure). Never a stack trace.
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { queryFailure } from './query-failure.js';
import type { QueryFailure } from './query-failure.js';
import { ResetFilterError } from './reset-filter.js';

/** A request field the RPC cannot use; the message names it and the form it takes. */
export class RpcArgumentError extends Error {
  override name = 'RpcArgumentError';
}

/** The request was fine and nothing matched it; the message says what to widen. */
export class RpcNotFoundError extends Error {
  override name = 'RpcNotFoundError';
}

/** What one call is given: its deadline, for the queries it runs. */
export interface RpcContext {
  /** Milliseconds left of the caller's gRPC deadline; Infinity when none. */
  deadlineMs: number;
}

export function rpcFailure(err: unknown, timeoutMs: number): QueryFailure {
  if (err instanceof ResetFilterError || err instanceof RpcArgumentError) {
    return { code: GrpcStatus.INVALID_ARGUMENT, details: err.message };
  }
  if (err instanceof RpcNotFoundError) return { code: GrpcStatus.NOT_FOUND, details: err.message };
  return queryFailure(err, timeoutMs);
}

/**
 * A unary handler from an async function. `timeoutMs` is what the queries of
 * one call were allowed, for the words of a timeout.
 */
export function unaryHandler<Req, Res>(
  method: string,
  log: Logger,
  timeoutMs: (deadlineMs: number) => number,
  handle: (request: Req, context: RpcContext) => Promise<Res>,
) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const deadlineMs = msUntil(call.getDeadline());
    handle(call.request, { deadlineMs }).then(
      (response) => callback(null, response),
      (err: unknown) => {
        const failure = rpcFailure(err, timeoutMs(deadlineMs));
        const context = { method, peer: call.getPeer(), code: GrpcStatus[failure.code] };
        // The caller's mistakes are routine; the server's own failures need a look.
        if (failure.code === GrpcStatus.UNAVAILABLE || failure.code === GrpcStatus.INTERNAL) {
          log.error({ ...context, err }, 'query call failed');
        } else {
          log.warn({ ...context, detail: failure.details }, 'query call failed');
        }
        callback(failure);
      },
    );
  };
}

/** Milliseconds left until a gRPC deadline; Infinity when the caller set none. */
function msUntil(deadline: Date | number): number {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? at - Date.now() : Infinity;
}
