// The collector's connections to ClickHouse, one per job. With a query user
// (--clickhouse-query-user) it runs with roles: its own user only inserts and
// reads back what it must, the query API reads as the query user, and the
// schema belongs to its owner (--migrate-only), so startup checks it and never
// tries DDL. Without one, one user does all three, as on chDB.
import { StorageError } from './errors.js';
import { openStorage } from './open-storage.js';
import { assertReadOnlyUser } from './read-only-user.js';
import { checkSchema } from './schema-check.js';
import type { Storage, StorageOptions } from './storage.js';

export interface QueryUser {
  user: string;
  password: string;
}

export interface CollectorStorage {
  /** Ingest, naming and the schema check: the collector's own user. */
  writer: Storage;
  /** The query API's user; the writer itself when no query user is given. */
  reader: Storage;
  schema: { applied: number[]; current: number; migrated: boolean };
  close(): Promise<void>;
}

export async function openCollectorStorage(
  options: StorageOptions,
  queryUser?: QueryUser,
): Promise<CollectorStorage> {
  const writer = await openStorage(options);
  try {
    if (!queryUser) {
      const { applied, current } = await migrateAs(writer, options);
      return {
        writer,
        reader: writer,
        schema: { applied, current, migrated: true },
        close: () => writer.close(),
      };
    }
    const { current } = await checkSchema(writer, options);
    const reader = await openStorage({ ...options, ...queryUser, readonlyByProfile: true });
    await assertReadOnlyUser(reader, queryUser.user).catch(async (err: unknown) => {
      await reader.close().catch(() => {});
      throw err;
    });
    return {
      writer,
      reader,
      schema: { applied: [], current, migrated: false },
      close: async () => {
        await reader.close();
        await writer.close();
      },
    };
  } catch (err) {
    await writer.close().catch(() => {});
    throw err;
  }
}

/** `rstscope collector --migrate-only`: the schema owner's one job. */
export async function migrateOnly(
  options: StorageOptions,
): Promise<{ applied: number[]; current: number; location: string }> {
  const storage = await openStorage(options);
  try {
    return { ...(await migrateAs(storage, options)), location: storage.location };
  } finally {
    await storage.close();
  }
}

async function migrateAs(
  storage: Storage,
  options: StorageOptions,
): Promise<{ applied: number[]; current: number }> {
  try {
    return await storage.migrate();
  } catch (err) {
    if (err instanceof StorageError && err.type === 'ACCESS_DENIED') {
      throw new StorageError(
        `user ${options.user} may not change the schema of ${options.database} (${err.message}): ` +
          "run 'rstscope collector --migrate-only' as the schema owner, and start this collector " +
          'with --clickhouse-query-user so it checks the schema instead (docs/storage.md, Roles)',
        { cause: err, type: err.type },
      );
    }
    throw err;
  }
}
