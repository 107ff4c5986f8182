// One outage of the store, from the first insert that failed because of it to the
// first that succeeded again: when to retry (exponential back-off, capped), and the
// two lines an operator reads, one when it starts and one when it ends.
import type { StoreFailure } from '../storage/store-failure.js';
import { storeFailureFix, storeFailureWords } from '../storage/store-failure.js';

export interface RetryPolicy {
  /** The first retry comes this long after the failure... */
  firstDelayMs: number;
  /** ... and each later one twice as long after the previous, up to this. */
  maxDelayMs: number;
}

/**
 * Short first, as most failures are blips (a merge storm, a restarting server);
 * capped at 30 s so a store that is back is used within half a minute, while a
 * long outage costs one insert attempt per 30 s.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { firstDelayMs: 1_000, maxDelayMs: 30_000 };

/** The store's state, for status and logs. */
export type StoreState =
  | { state: 'ok' }
  | {
      state: 'failing';
      kind: StoreFailure['kind'];
      /** The last failure, one line. */
      detail: string;
      /** When the outage began (ms since the epoch). */
      sinceMs: number;
      /** Failed attempts so far. */
      attempts: number;
      /** Messages held unacknowledged (JetStream keeps them, and all behind them). */
      heldMessages: number;
      /** When the next attempt is due (ms since the epoch). */
      retryAtMs: number;
    };

export class StoreOutage {
  readonly sinceMs: number;
  attempts = 1;
  delayMs: number;
  retryAtMs: number;

  constructor(
    public failure: StoreFailure,
    private readonly policy: RetryPolicy,
    now: number,
  ) {
    this.sinceMs = now;
    this.delayMs = policy.firstDelayMs;
    this.retryAtMs = now + this.delayMs;
  }

  /** Another attempt failed: wait twice as long (up to the cap). True when the kind changed. */
  failedAgain(failure: StoreFailure, now: number): boolean {
    const changed = failure.kind !== this.failure.kind;
    this.failure = failure;
    this.attempts += 1;
    this.delayMs = Math.min(this.delayMs * 2, this.policy.maxDelayMs);
    this.retryAtMs = now + this.delayMs;
    return changed;
  }

  state(heldMessages: number): StoreState {
    return {
      state: 'failing',
      kind: this.failure.kind,
      detail: this.failure.line,
      sinceMs: this.sinceMs,
      attempts: this.attempts,
      heldMessages,
      retryAtMs: this.retryAtMs,
    };
  }

  /**
   * "ClickHouse store: disk full at /var/lib/rstscope/clickhouse (Cannot reserve
   * 1.00 MiB, not enough space (NOT_ENOUGH_SPACE)): holding 12 messages in
   * JetStream, retrying in 1 s; free space where the store writes (...)"
   */
  failingLine(location: string, heldMessages: number): string {
    const { kind, line } = this.failure;
    return (
      `ClickHouse store: ${storeFailureWords(kind)} at ${location} (${line}): ` +
      `holding ${heldMessages} message${heldMessages === 1 ? '' : 's'} in JetStream, ` +
      `retrying in ${seconds(this.delayMs)}; ${storeFailureFix(kind, location)}`
    );
  }

  /** "ClickHouse store at ... is back after 42 s (6 failed attempts): 12 messages stored" */
  backLine(location: string, now: number, storedMessages: number): string {
    return (
      `ClickHouse store at ${location} is back after ${seconds(now - this.sinceMs)} ` +
      `(${this.attempts} failed attempt${this.attempts === 1 ? '' : 's'}): ` +
      `${storedMessages} message${storedMessages === 1 ? '' : 's'} stored`
    );
  }
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s` : `${Math.round(ms / 1000)} s`;
}
