// Picks the backend: a ClickHouse server when a URL is given, else embedded
// chDB in the data directory. Same tables, same SQL either way.
//
// Each backend is imported only when it is opened: chDB's library maps some
// 150 MiB into whatever process loads it, and the agent, `up` and `schema`
// load this module for its defaults without ever storing a row.
import type { Storage, StorageOptions } from './storage.js';

export const DEFAULT_DATABASE = 'rstscope';
export const DEFAULT_USER = 'default';
export const DEFAULT_PASSWORD = '';
/** Two weeks: long enough to look back over a weekend incident, short enough to stay small. */
export const DEFAULT_RETENTION_DAYS = 14;

/** Opens the storage (creating the database); call migrate() before inserting. */
export async function openStorage(options: StorageOptions): Promise<Storage> {
  if (options.url) {
    const { ClickHouseServerStorage } = await import('./clickhouse-server-storage.js');
    return ClickHouseServerStorage.open({ ...options, url: options.url });
  }
  const { ChdbStorage } = await import('./chdb-storage.js');
  return ChdbStorage.open(options);
}
