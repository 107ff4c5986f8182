// Which events of these batches are stored already? Asked only for batches that
// may have been stored before (redelivered, retried, or published again past the
// stream's duplicate window), and narrowed by host and time so ClickHouse reads a
// few granules.
import { DUPLICATE_WINDOW_S } from '../../proto/nats-topology.js';
import type { Storage } from '../storage/storage.js';

/** A minute less than the window: the agent's clock may run behind the server's. */
const LATE_AFTER_NS = BigInt(DUPLICATE_WINDOW_S - 60) * 1_000_000_000n;

/** What the query needs of a batch, in either insert format. */
export interface BatchSpan {
  host: string;
  batchId: string;
  rows: number;
  firstTs: string;
  lastTs: string;
}

/** Keys "batch_id#batch_index" of the rows already in `resets`. */
export async function storedEventKeys(
  storage: Storage,
  batches: readonly BatchSpan[],
): Promise<Set<string>> {
  const withEvents = batches.filter((b) => b.rows);
  if (!withEvents.length) return new Set();
  const from = withEvents.map((b) => b.firstTs).sort()[0]!;
  const to = withEvents
    .map((b) => b.lastTs)
    .sort()
    .at(-1)!;
  const found = await storage.query<{ batch_id: string; batch_index: number }>(
    `SELECT batch_id, batch_index FROM resets
     WHERE host IN {hosts:Array(String)}
       AND ts BETWEEN toDateTime64(toDecimal128({from:String}, 9), 9, 'UTC')
                  AND toDateTime64(toDecimal128({to:String}, 9), 9, 'UTC')
       AND batch_id IN {ids:Array(String)}`,
    {
      hosts: [...new Set(withEvents.map((b) => b.host))],
      from,
      to,
      ids: withEvents.map((b) => b.batchId),
    },
  );
  return new Set(found.map((r) => `${r.batch_id}#${r.batch_index}`));
}

/**
 * Whether JetStream took this batch later than its duplicate window after the
 * batch's first event: a batch published before (its ack lost) and again after
 * the window is a new message to JetStream, and only the store can tell.
 */
export function publishedPastDuplicateWindow(
  batch: BatchSpan,
  receivedAtNs: bigint | undefined,
): boolean {
  if (receivedAtNs === undefined || !batch.rows || !batch.firstTs) return false;
  const [seconds = '0', fraction = ''] = batch.firstTs.split('.');
  const firstNs = BigInt(seconds) * 1_000_000_000n + BigInt(fraction.padEnd(9, '0').slice(0, 9));
  return receivedAtNs - firstNs > LATE_AFTER_NS;
}
