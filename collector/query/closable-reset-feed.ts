// A ResetFeed that the query server can close: every live subscription ends with
// the reason given, and later ones end at once. A watch stream stays open for as
// long as its feed does, so without this the server's graceful shutdown would wait
// on watchers until its grace period ran out.
import { ResetFeedEndedError } from './reset-feed.js';
import type { ResetFeed, ResetFeedSubscriber, ResetFeedSubscription } from './reset-feed.js';

interface Open {
  subscription: ResetFeedSubscription;
  finish(reason: ResetFeedEndedError): void;
}

export class ClosableResetFeed implements ResetFeed {
  private closedWith: ResetFeedEndedError | undefined;
  private readonly open = new Set<Open>();

  constructor(private readonly inner: ResetFeed) {}

  subscribe(subscriber: ResetFeedSubscriber): ResetFeedSubscription {
    if (this.closedWith) {
      subscriber.end(this.closedWith);
      return { live: Promise.resolve(), stop: () => {} };
    }
    // The subscriber hears end() once, from whichever side ends first.
    let ended = false;
    const entry: Open = {
      subscription: { live: Promise.resolve(), stop: () => {} },
      finish: (reason) => {
        if (ended) return;
        ended = true;
        this.open.delete(entry);
        subscriber.end(reason);
      },
    };
    entry.subscription = this.inner.subscribe({
      batch: (batch) => {
        if (!ended) subscriber.batch(batch);
      },
      end: (reason) => entry.finish(reason),
    });
    // The inner feed may have ended it already, synchronously (NATS down).
    if (!ended) this.open.add(entry);
    return {
      live: entry.subscription.live,
      stop: () => {
        ended = true;
        this.open.delete(entry);
        entry.subscription.stop();
      },
    };
  }

  /** Ends every subscription with `reason`; the feed refuses new ones from now on. */
  close(reason: string): void {
    this.closedWith ??= new ResetFeedEndedError(reason);
    for (const entry of [...this.open]) {
      entry.subscription.stop();
      entry.finish(this.closedWith);
    }
  }
}
