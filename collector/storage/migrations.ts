// Versioned schema migrations, applied in order at start and recorded in
// schema_migrations, then the retention TTL brought in line with the setting.
//
// Every statement is idempotent (IF NOT EXISTS, ADD COLUMN IF NOT EXISTS) because
// several collectors may start at once against one server: two of them applying
// the same version must both succeed. A later migration that adds a column also
// adds it to tables.ts, marked `since` that version, so a fresh database gets it
// from the CREATE of version 1 and the ALTER of the later version (written from
// tables.ts by addedColumnsDdl) does nothing there.
import {
  addedColumnsDdl,
  resetAggregatesViewDdl,
  singleNodeTableDdl,
  ttlExpression,
} from './ddl.js';
import { installDiagnosisViews } from '../diagnosis/views.js';
import type { SqlRunner } from './sql-runner.js';
import { ADDRESSES, AGENTS, RESETS, RESET_AGGREGATES, TABLES } from './tables.js';

export interface Migration {
  version: number;
  name: string;
  statements: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'resets table', statements: [singleNodeTableDdl(RESETS)] },
  { version: 2, name: 'agents table', statements: [singleNodeTableDdl(AGENTS)] },
  { version: 3, name: 'resets.survived_idle_ms', statements: addedColumnsDdl(RESETS, 3) },
  {
    version: 4,
    name: 'resets: Kubernetes pod and both ends by name',
    statements: addedColumnsDdl(RESETS, 4),
  },
  {
    version: 5,
    name: 'addresses table: who an address was, and when',
    statements: [singleNodeTableDdl(ADDRESSES)],
  },
  {
    version: 6,
    name: 'storm aggregates: agents.aggregated, agents.aggregates, reset_aggregates',
    statements: [
      ...addedColumnsDdl(AGENTS, 6),
      singleNodeTableDdl(RESET_AGGREGATES),
      resetAggregatesViewDdl('reset_aggregates_from_agents', 'agents', 'reset_aggregates'),
    ],
  },
  {
    version: 7,
    name: 'agents: the kernel’s sent resets per namespace, and the clock offset',
    statements: addedColumnsDdl(AGENTS, 7),
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

// Replacing: two collectors recording the same version leave one row after merge.
const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32 COMMENT 'Migration version',
    name String COMMENT 'What it changed',
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'When it was applied'
)
ENGINE = ReplacingMergeTree
ORDER BY version
COMMENT 'Schema migrations applied to this database'`;

export interface MigrationResult {
  applied: number[];
  current: number;
}

/** Applies pending migrations and the retention; running it again applies nothing. */
export async function migrate(runner: SqlRunner, retentionDays: number): Promise<MigrationResult> {
  if (await isClusterLayout(runner)) {
    // The operator created the cluster layout from clusterDdl(); a collector must
    // not put single-node tables or TTLs beside it. See docs/storage.md.
    return { applied: [], current: LATEST_VERSION };
  }
  await runner.command(MIGRATIONS_TABLE);
  const done = new Set(
    (await runner.query<{ version: number }>('SELECT DISTINCT version FROM schema_migrations')).map(
      (r) => Number(r.version),
    ),
  );
  const applied: number[] = [];
  for (const migration of MIGRATIONS) {
    if (done.has(migration.version)) continue;
    for (const statement of migration.statements) await runner.command(statement);
    await runner.command(
      'INSERT INTO schema_migrations (version, name) SELECT {version:UInt32}, {name:String}',
      { version: migration.version, name: migration.name },
    );
    applied.push(migration.version);
  }
  await applyRetention(runner, retentionDays);
  await installDiagnosisViews(runner);
  return { applied, current: Math.max(0, ...done, ...applied) };
}

/**
 * Sets each table's TTL to `retentionDays` unless it already is. Comparing first
 * matters: MODIFY TTL re-evaluates the TTL of every part, which is not free on a
 * large table, and it would otherwise run at every start.
 * Returns the tables whose TTL changed.
 */
async function applyRetention(runner: SqlRunner, retentionDays: number): Promise<string[]> {
  const changed: string[] = [];
  for (const table of TABLES) {
    const wanted = ttlExpression(table, retentionDays);
    const current = await currentTtl(runner, table.name);
    // ClickHouse stores `INTERVAL 14 DAY` as `toIntervalDay(14)`.
    if (current === `${table.ttlFrom} + toIntervalDay(${retentionDays})`) continue;
    await runner.command(`ALTER TABLE ${table.name} MODIFY TTL ${wanted}`);
    changed.push(table.name);
  }
  return changed;
}

/** The table's TTL expression as ClickHouse formats it, or undefined without one. */
async function currentTtl(runner: SqlRunner, table: string): Promise<string | undefined> {
  const [row] = await runner.query<{ engine_full: string }>(
    'SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {table:String}',
    { table },
  );
  return row ? /\bTTL (.+?)(?= SETTINGS |$)/.exec(row.engine_full)?.[1] : undefined;
}

async function isClusterLayout(runner: SqlRunner): Promise<boolean> {
  const rows = await runner.query<{ engine: string }>(
    "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = 'resets'",
  );
  return rows[0]?.engine === 'Distributed';
}
