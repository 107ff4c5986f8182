// Picks the backend: a ClickHouse server when a URL is given, else embedded
// chDB in the data directory. Same tables, same SQL either way.
import { ChdbStorage } from './chdb-storage.js';
import { ClickHouseServerStorage } from './clickhouse-server-storage.js';
import type { Storage, StorageOptions } from './storage.js';

export const DEFAULT_DATABASE = 'rstscope';
export const DEFAULT_USER = 'default';
export const DEFAULT_PASSWORD = '';
/** Two weeks: long enough to look back over a weekend incident, short enough to stay small. */
export const DEFAULT_RETENTION_DAYS = 14;

/** Opens the storage (creating the database); call migrate() before inserting. */
export async function openStorage(options: StorageOptions): Promise<Storage> {
  if (options.url) {
    return ClickHouseServerStorage.open({ ...options, url: options.url });
  }
  return ChdbStorage.open(options);
}
