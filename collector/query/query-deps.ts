// What the query service's handlers get from the collector.
import type { Logger } from 'pino';
import type { CollectorStatus } from '../../proto/index.js';
import type { Storage } from '../storage/storage.js';
import type { FlowEndsOf } from './live-ends.js';
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
  /**
   * Names a live event's two ends as the collector names them when it stores
   * the event (its Kubernetes address map, inventory, the agent's pod), for
   * WatchResets' Reset.local_end/remote_end and its name filters. Without it
   * the local end is the agent's pod, the remote end unnamed.
   */
  flowEnds?: FlowEndsOf;
  /** The collector's own state for Fleet (NATS backlog, rows stored). */
  collectorStatus?: () => Promise<CollectorStatus>;
}
