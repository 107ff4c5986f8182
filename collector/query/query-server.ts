// The collector's gRPC endpoint: rstscope.v1.Query and grpc.health.v1.Health on
// one port. Transport security (TLS, mutual TLS) is the credentials parameter and
// the bearer token an interceptor, so neither touches the handlers.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { grpcServiceDefinition } from '../../proto/index.js';
import type { Storage } from '../storage/storage.js';
import { ClosableResetFeed } from './closable-reset-feed.js';
import { bearerTokenInterceptor } from './bearer-token.js';
import { formatHostPort, HOST_PORT_FORM, parseHostPort } from './host-port.js';
import { HealthService, healthServiceDefinition, QUERY_SERVICE_NAME } from './health-service.js';
import type { HealthOptions } from './health-service.js';
import { resolveQueryLimits } from './query-limits.js';
import type { QueryLimits } from './query-limits.js';
import { queryServiceImplementation } from './query-service.js';
import type { QueryServiceDeps } from './query-deps.js';

/** How long shutdown waits for running queries before cutting them off. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;

/** What an open watch hears when the server stops. */
export const SHUTTING_DOWN = 'collector shutting down';

export interface QueryServerOptions {
  /** host:port to listen on; port 0 picks a free port ([::1]:0 for IPv6). */
  listen: string;
  storage: Pick<Storage, 'readOnlyQuery' | 'query' | 'backend' | 'location'>;
  /** Row and time limits for user queries (default DEFAULT_QUERY_LIMITS). */
  limits?: Partial<QueryLimits>;
  log: Logger;
  /** Default: insecure, for loopback and trusted networks only. */
  credentials?: ServerCredentials;
  /** When set, every call must carry `authorization: Bearer <token>`. */
  token?: string;
  /** Live resets for WatchResets (the collector's NATS feed); without one it answers UNAVAILABLE. */
  resetFeed?: QueryServiceDeps['resetFeed'];
  collectorStatus?: QueryServiceDeps['collectorStatus'];
  flowEnds?: QueryServiceDeps['flowEnds'];
  health?: HealthOptions;
  /** Default DEFAULT_SHUTDOWN_GRACE_MS. */
  shutdownGraceMs?: number;
}

export interface QueryServer {
  /** The address actually bound, as host:port (port 0 resolved). */
  readonly address: string;
  /** What health checks report, with the storage's answer (default true). */
  setServing(serving: boolean): void;
  /**
   * Reports NOT_SERVING, ends health and reset watches (UNAVAILABLE "collector
   * shutting down"), lets running queries finish within the grace period.
   */
  shutdown(): Promise<void>;
}

export class QueryServerStartError extends Error {
  override name = 'QueryServerStartError';
}

export async function startQueryServer(options: QueryServerOptions): Promise<QueryServer> {
  const listen = parseHostPort(options.listen);
  if (!listen) {
    throw new QueryServerStartError(
      `listen address '${options.listen}': expected ${HOST_PORT_FORM}`,
    );
  }
  const limits = resolveQueryLimits(options.limits);
  const log = options.log.child({ component: 'query-server' });
  const health = new HealthService(options.storage, options.health);
  // Watches end at shutdown through their feed: the server holds the switch.
  const resetFeed = options.resetFeed && new ClosableResetFeed(options.resetFeed);
  const server = new Server({
    interceptors: options.token === undefined ? [] : [bearerTokenInterceptor(options.token)],
  });
  server.addService(
    grpcServiceDefinition(QUERY_SERVICE_NAME) as ServiceDefinition,
    queryServiceImplementation({
      storage: options.storage,
      storageName: `${options.storage.backend} ${options.storage.location}`,
      limits,
      log,
      resetFeed,
      collectorStatus: options.collectorStatus,
      flowEnds: options.flowEnds,
    }),
  );
  server.addService(healthServiceDefinition(), health.implementation());

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      options.listen,
      options.credentials ?? ServerCredentials.createInsecure(),
      (err, bound) => {
        if (err) {
          server.forceShutdown();
          reject(
            new QueryServerStartError(`cannot listen on ${options.listen}: ${err.message}`, {
              cause: err,
            }),
          );
        } else resolve(bound);
      },
    );
  });
  const address = formatHostPort({ host: listen.host, port });
  log.info({ address, limits }, 'query service listening');

  let stopping: Promise<void> | undefined;
  return {
    address,
    setServing: (serving) => health.setServing(serving),
    shutdown() {
      resetFeed?.close(SHUTTING_DOWN);
      stopping ??= drain(server, health, options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS).then(
        (forced) => log.info({ address, forced }, 'query service stopped'),
      );
      return stopping;
    },
  };
}

/** Resolves true when the grace period ran out and calls were cut off. */
function drain(server: Server, health: HealthService, graceMs: number): Promise<boolean> {
  health.close();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve(true);
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}
