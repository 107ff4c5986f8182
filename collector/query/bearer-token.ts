// The bearer token as a server interceptor, so no handler has to remember it.
// The standard health service stays open: Kubernetes' gRPC probes cannot send
// metadata, and "is it up" reveals nothing that a TCP connect does not.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ServerInterceptingCall, status as GrpcStatus } from '@grpc/grpc-js';
import type { Metadata, ServerInterceptor } from '@grpc/grpc-js';
import { HEALTH_SERVICE_NAME } from './health-service.js';

export const MISSING_TOKEN = 'missing bearer token: pass --token-file or set RSTSCOPE_TOKEN';
export const WRONG_TOKEN = 'wrong bearer token';

const OPEN_PREFIX = `/${HEALTH_SERVICE_NAME}/`;
const BEARER = /^Bearer +(\S+)\s*$/i;

/** Every call but health checks must carry `authorization: Bearer <token>`. */
export function bearerTokenInterceptor(token: string): ServerInterceptor {
  const expected = digest(token);
  return (method, call) => {
    if (method.path.startsWith(OPEN_PREFIX)) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, forward) => {
            const refusal = check(metadata, expected);
            // The call ends here; the handler never starts.
            if (refusal) call.sendStatus({ code: GrpcStatus.UNAUTHENTICATED, details: refusal });
            else forward(metadata);
          },
        }),
    });
  };
}

/** The refusal's detail, or undefined when the token is right. */
function check(metadata: Metadata, expected: Buffer): string | undefined {
  const [value] = metadata.get('authorization');
  const match = typeof value === 'string' ? BEARER.exec(value) : null;
  if (!match) return MISSING_TOKEN;
  // Digests have equal length whatever was sent, so timingSafeEqual can compare
  // them, and the time taken says nothing about the token's length either.
  return timingSafeEqual(digest(match[1]!), expected) ? undefined : WRONG_TOKEN;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
