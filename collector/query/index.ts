// The collector's query service: read-only SQL, the diagnosis RPCs and health over gRPC.
export {
  DEFAULT_QUERY_ADDRESS,
  DEFAULT_QUERY_LIMITS,
  DEFAULT_SQL_MAX_ROWS,
  DEFAULT_SQL_MAX_TIMEOUT_MS,
  DEFAULT_SQL_ROWS,
  DEFAULT_SQL_TIMEOUT_MS,
  effectiveLimits,
  resolveQueryLimits,
} from './query-limits.js';
export type { EffectiveLimits, QueryLimits } from './query-limits.js';
export {
  DEFAULT_HEALTH_PROBE_INTERVAL_MS,
  DEFAULT_HEALTH_PROBE_TIMEOUT_MS,
  HEALTH_SERVICE_NAME,
  QUERY_SERVICE_NAME,
} from './health-service.js';
export type { HealthOptions, ServingStatus } from './health-service.js';
export { formatHostPort, HOST_PORT_FORM, parseHostPort } from './host-port.js';
export type { HostPort } from './host-port.js';
export { queryFailure } from './query-failure.js';
export type { QueryFailure } from './query-failure.js';
export {
  DEFAULT_SHUTDOWN_GRACE_MS,
  QueryServerStartError,
  startQueryServer,
} from './query-server.js';
export type { QueryServer, QueryServerOptions } from './query-server.js';
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './list-resets.js';
export { DEFAULT_TOP_CAUSES_LIMIT, EPHEMERAL_PORTS, MAX_TOP_CAUSES_LIMIT } from './top-causes.js';
export { DEFAULT_EXPLAIN_LIMIT, MAX_EXPLAIN_LIMIT } from './explain-flow.js';
export { DEFAULT_MIDDLEBOXES_LIMIT, MAX_MIDDLEBOXES_LIMIT } from './middleboxes.js';
export { DEFAULT_STALE_AFTER_S } from './fleet.js';
export { RpcArgumentError, RpcNotFoundError } from './rpc-failure.js';
export {
  DEFAULT_WINDOW_NS,
  DIRECTIONS,
  ORIGINS,
  parseResetFilter,
  ResetFilterError,
} from './reset-filter.js';
export type { ParsedResetFilter } from './reset-filter.js';
export { RESET_CAUSES_COLUMNS, resetFilterSql } from './reset-filter-sql.js';
export type { FilterColumns, FilterSql } from './reset-filter-sql.js';
