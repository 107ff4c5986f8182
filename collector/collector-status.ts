// The collector's own state for Fleet: where it stores, what waits in JetStream for
// the collectors, and what this collector has inserted and refused since it started.
import type { CollectorStatus } from '../proto/index.js';
import type { IngestCounters } from './ingest/ingester.js';
import type { StoreState } from './ingest/store-outage.js';

/** JetStream's consumer info is one request; a collector whose NATS is gone says so fast. */
export const DEFAULT_BACKLOG_TIMEOUT_MS = 2_000;

export class CollectorStatusError extends Error {
  override name = 'CollectorStatusError';
}

export interface CollectorStatusSources {
  /** Where the rows go, for people (the storage's location). */
  storage: string;
  /** The durable consumer's backlog (NatsIntake.backlog). */
  backlog(): Promise<{ pending: number; ackPending: number }>;
  /** The ingester's counters, read at each call. */
  counters: Readonly<IngestCounters>;
  /** Whether the store takes inserts now (Ingester.storeState). */
  store(): StoreState;
  /** Default DEFAULT_BACKLOG_TIMEOUT_MS. */
  backlogTimeoutMs?: number;
}

/** A provider for QueryServerOptions.collectorStatus. Rejects when NATS does not answer. */
export function collectorStatusProvider(
  sources: CollectorStatusSources,
): () => Promise<CollectorStatus> {
  return async () => {
    const store = storeFailing(sources.store());
    const { pending, ackPending } = await withTimeout(
      sources.backlog(),
      sources.backlogTimeoutMs ?? DEFAULT_BACKLOG_TIMEOUT_MS,
    );
    const { rows, refused } = sources.counters;
    const deadLettered = Object.values(refused).reduce((sum, n) => sum + (n ?? 0), 0);
    return {
      storage: sources.storage,
      stream_pending: String(pending),
      ack_pending: String(ackPending),
      rows_inserted: String(rows),
      dead_lettered: String(deadLettered),
      unavailable: '',
      store_failing: store,
    };
  };
}

/** "disk_full since 07:27:20Z (3 attempts), 12 messages held, next attempt in 8 s: <detail>" */
function storeFailing(s: StoreState): string {
  if (s.state === 'ok') return '';
  const since = new Date(s.sinceMs).toISOString().slice(11, 19);
  const next = Math.max(0, Math.round((s.retryAtMs - Date.now()) / 1000));
  return (
    `${s.kind} since ${since}Z (${s.attempts} failed attempts), ${s.heldMessages} messages ` +
    `held in JetStream, next attempt in ${next} s: ${s.detail}`
  );
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new CollectorStatusError(`NATS unreachable: no consumer info within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } catch (error) {
    if (error instanceof CollectorStatusError) throw error;
    throw new CollectorStatusError(
      `NATS unreachable: cannot read the consumer's backlog: ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}
