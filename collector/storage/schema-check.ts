// A collector that runs as the writer may not change the schema, so it checks
// it instead: present, and at least as new as this code. Either failure is one
// line that says who has to do what.
import { StorageError, engineErrorLine } from './errors.js';
import { LATEST_VERSION } from './migrations.js';
import type { Storage } from './storage.js';

/** The schema is missing, older than the code, or cannot be read by this user. */
export class SchemaError extends StorageError {
  override name = 'SchemaError';
}

const MIGRATE_ONLY = "run 'rstscope collector --migrate-only' once as the schema owner";

/** The database's schema version; throws SchemaError when the collector cannot run on it. */
export async function checkSchema(
  storage: Pick<Storage, 'query'>,
  where: { database: string; user: string },
): Promise<{ current: number }> {
  let version: number;
  try {
    const [row] = await storage.query<{ version: string | number }>(
      'SELECT max(version) AS version FROM schema_migrations',
    );
    version = Number(row?.version ?? 0);
  } catch (err) {
    const { line, type } = engineErrorLine(err);
    if (type === 'UNKNOWN_TABLE' || type === 'UNKNOWN_DATABASE') {
      // The cluster layout is the operator's (rstscope schema --cluster) and has no migrations table.
      if (type === 'UNKNOWN_TABLE' && (await isClusterLayout(storage))) {
        return { current: LATEST_VERSION };
      }
      throw new SchemaError(
        `ClickHouse database ${where.database} has no rstscope schema yet: ${MIGRATE_ONLY}, then start the collector again`,
        { cause: err, type },
      );
    }
    if (type === 'ACCESS_DENIED') {
      throw new SchemaError(
        `user ${where.user} may not read ${where.database}.schema_migrations (${line}): ` +
          "run the SQL of 'rstscope clickhouse-roles' again as a ClickHouse administrator",
        { cause: err, type },
      );
    }
    throw err;
  }
  if (version < LATEST_VERSION) {
    throw new SchemaError(
      `ClickHouse database ${where.database} is at schema version ${version}, this collector needs ${LATEST_VERSION}: ${MIGRATE_ONLY}, then start the collector again`,
    );
  }
  return { current: version };
}

async function isClusterLayout(storage: Pick<Storage, 'query'>): Promise<boolean> {
  const rows = await storage.query<{ engine: string }>(
    "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = 'resets'",
  );
  return rows[0]?.engine === 'Distributed';
}
