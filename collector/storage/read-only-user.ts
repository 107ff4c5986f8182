// The query API trusts its user's settings profile to hold readonly (it leaves
// readonly out of each query, since ClickHouse refuses changing it there), so it
// checks once, at startup, that the profile really does: a query user that may
// write (a typo naming the writer, or `default`) stops the collector instead.
import { StorageError } from './errors.js';
import type { Storage } from './storage.js';

export async function assertReadOnlyUser(storage: Storage, user: string): Promise<void> {
  const [row] = await storage.query<{ readonly: string | number }>(
    "SELECT getSetting('readonly') AS readonly",
  );
  if (!row || Number(row.readonly) === 0) {
    throw new StorageError(
      `--clickhouse-query-user ${user} may write: its settings profile must hold readonly (create the users with 'rstscope clickhouse-roles')`,
    );
  }
}
