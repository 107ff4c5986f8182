// Which of these rows are stored already? Asked only for redelivered batches, and
// narrowed by host and time so ClickHouse reads a few granules, not the table.
import type { Row, Storage } from '../storage/storage.js';

export async function storedEventKeys(storage: Storage, rows: Row[]): Promise<Set<string>> {
  const ids = [...new Set(rows.map((r) => r.batch_id as string))];
  const hosts = [...new Set(rows.map((r) => r.host as string))];
  const times = rows.map((r) => r.ts as string).sort();
  const found = await storage.query<{ batch_id: string; batch_index: number }>(
    `SELECT batch_id, batch_index FROM resets
     WHERE host IN {hosts:Array(String)}
       AND ts BETWEEN parseDateTime64BestEffort({from:String}, 9, 'UTC')
                  AND parseDateTime64BestEffort({to:String}, 9, 'UTC')
       AND batch_id IN {ids:Array(String)}`,
    { hosts, from: times[0], to: times[times.length - 1], ids },
  );
  return new Set(found.map((r) => `${r.batch_id}#${r.batch_index}`));
}
