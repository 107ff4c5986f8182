// Reading back what the collector stored, through its real query service, and
// turning a stored row into the agent's JSON record for field-by-field comparison.
import { QueryClient } from '../../cli/query-client.js';
import type { ResetEvent } from '../../agent/reset-event.js';

export async function queryRows<T = Record<string, unknown>>(
  address: string,
  sql: string,
  params: Record<string, string> = {},
): Promise<T[]> {
  const client = new QueryClient(address);
  try {
    const response = await client.sql({ sql, params, max_rows: 100_000 });
    return response.rows.map((r) => JSON.parse(r) as T);
  } finally {
    client.close();
  }
}

export async function countRows(address: string, where = '1'): Promise<number> {
  const [row] = await queryRows<{ n: string }>(
    address,
    `SELECT count() AS n FROM resets WHERE ${where}`,
  );
  return Number(row!.n);
}

/** Polls until count() reaches at least `expected` or the time is up; returns the last count. */
export async function waitForRows(
  address: string,
  expected: number,
  timeoutMs = 30_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let n = await countRows(address);
  while (n < expected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    n = await countRows(address);
  }
  return n;
}

const UINT64_COLUMNS = ['bytes_acked', 'bytes_received'];

/**
 * A stored row in the agent's JSON form. The differences are ClickHouse's own
 * text forms: DateTime64 prints "YYYY-MM-DD hh:mm:ss.nnnnnnnnn", IPv6 columns
 * print IPv4 as ::ffff:a.b.c.d, 64-bit integers come quoted.
 */
export function asAgentRecord(row: Record<string, unknown>): ResetEvent {
  const record: Record<string, unknown> = { ...row };
  delete record.batch_id;
  delete record.batch_index;
  delete record.inserted_at;
  record.ts = `${(row.ts as string).replace(' ', 'T')}Z`;
  if (row.family === 'ipv4') {
    record.local_addr = (row.local_addr as string).replace(/^::ffff:/, '');
    record.remote_addr = (row.remote_addr as string).replace(/^::ffff:/, '');
  }
  for (const column of UINT64_COLUMNS) record[column] = Number(row[column]);
  return record as unknown as ResetEvent;
}
