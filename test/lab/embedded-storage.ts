// Suites and benches that need real storage all want the same thing: embedded
// chDB in their own temp directory with the collector's default database and
// credentials, migrated. One place to say so keeps them from drifting apart.
import {
  DEFAULT_DATABASE,
  DEFAULT_PASSWORD,
  DEFAULT_RETENTION_DAYS,
  DEFAULT_USER,
  openStorage,
} from '../../collector/storage/open-storage.js';
import type { Storage } from '../../collector/storage/storage.js';

export interface EmbeddedStorageOptions {
  /** Default DEFAULT_RETENTION_DAYS; long-lived fixtures need more so TTL keeps old rows. */
  retentionDays?: number;
  /** Default true; false opens a directory some other process already migrated. */
  migrate?: boolean;
}

/** Opens embedded chDB in dataDir (created if missing) and, unless told not to, migrates it. */
export async function openEmbeddedStorage(
  dataDir: string,
  options: EmbeddedStorageOptions = {},
): Promise<Storage> {
  const storage = await openStorage({
    dataDir,
    database: DEFAULT_DATABASE,
    user: DEFAULT_USER,
    password: DEFAULT_PASSWORD,
    retentionDays: options.retentionDays ?? DEFAULT_RETENTION_DAYS,
  });
  if (options.migrate === false) return storage;
  try {
    await storage.migrate();
  } catch (err) {
    // chDB runs one engine per process: the caller never sees this storage, so
    // release it here or the next suite in the worker cannot open its own.
    await storage.close().catch(() => undefined);
    throw err;
  }
  return storage;
}
