// What the query service's handlers get from the collector.
import type { Logger } from 'pino';
import type { CollectorStatus } from '../../proto/index.js';
import type { Storage } from '../storage/storage.js';
import type { QueryLimits } from './query-limits.js';
import type { ResetFeed } from './reset-feed.js';

export interface QueryServiceDeps {
  storage: Pick<Storage, 'readOnlyQuery' | 'query'>;
  /** The storage as people name it, e.g. "chdb /var/lib/rstscope/clickhouse". */
  storageName: string;
  limits: QueryLimits;
  log: Logger;
  /** Live resets for WatchResets; without one, WatchResets answers UNAVAILABLE. */
  resetFeed?: ResetFeed;
  /** The collector's own state for Fleet (NATS backlog, rows stored). */
  collectorStatus?: () => Promise<CollectorStatus>;
}
