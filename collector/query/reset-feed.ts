// Where WatchResets gets its resets: the batches agents publish on NATS, as they
// arrive, not rows polled from ClickHouse. The collector's NATS subscription is
// one implementation (nats-reset-feed.ts); the query server wraps whichever it is
// given so that shutdown can end every watch (closable-reset-feed.ts).
import type { ResetBatch } from '../../proto/index.js';

/** Why a feed stopped for a subscriber; the message is the detail a watcher is told. */
export class ResetFeedEndedError extends Error {
  override name = 'ResetFeedEndedError';
}

export interface ResetFeedSubscriber {
  /** One batch as an agent published it. Must not throw; must not block. */
  batch(batch: ResetBatch): void;
  /** The feed stopped for this subscriber (NATS gone, collector stopping): nothing follows. */
  end(reason: ResetFeedEndedError): void;
}

export interface ResetFeedSubscription {
  /**
   * Resolves once batches published from now on reach the subscriber (the server
   * confirmed the subscription); never rejects, a failure arrives as end().
   */
  readonly live: Promise<void>;
  /** Stops delivery; idempotent. */
  stop(): void;
}

export interface ResetFeed {
  /** Delivers every batch from now on until stop() or end(). */
  subscribe(subscriber: ResetFeedSubscriber): ResetFeedSubscription;
}
