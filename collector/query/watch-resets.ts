// rstscope.v1.Query/WatchResets: resets as agents publish them.
// (Being built: answers UNAVAILABLE until the NATS feed lands.)
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { WatchResetsRequest, WatchResetsResponse } from '../../proto/index.js';
import type { QueryServiceDeps } from './query-service.js';

export function watchResetsHandler(deps: QueryServiceDeps) {
  return (call: ServerWritableStream<WatchResetsRequest, WatchResetsResponse>) => {
    call.destroy(
      Object.assign(
        new Error(
          deps.resetFeed ? 'WatchResets is not available yet' : 'this collector has no NATS feed',
        ),
        {
          code: GrpcStatus.UNAVAILABLE,
        },
      ),
    );
  };
}
