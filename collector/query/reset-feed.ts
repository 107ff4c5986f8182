// Where WatchResets gets its resets: the batches agents publish on NATS, as they
// arrive, not rows polled from ClickHouse. The collector's NATS subscription is
// one implementation; tests may feed batches of their own.
import type { ResetBatch } from '../../proto/index.js';

export type ResetBatchListener = (batch: ResetBatch) => void;

export interface ResetFeed {
  /** Calls `listener` for every batch from now on; returns the call that stops it. */
  subscribe(listener: ResetBatchListener): () => void;
}
