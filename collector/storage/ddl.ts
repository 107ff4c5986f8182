// DDL generated from the table definitions: the single-node tables the
// migrations create, and the cluster layout (Replicated *_local tables behind
// Distributed tables with the user-facing names) an operator applies once.
import { StorageError } from './errors.js';
import { TABLES, type Column, type TableDefinition } from './tables.js';

/** `name`, after checking it is a plain identifier (database and cluster names come from config). */
export function quoteIdentifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new StorageError(`${JSON.stringify(name)}: expected letters, digits and _ only`);
  }
  return `\`${name}\``;
}

export function quoteString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The TTL expression for a retention of `days`, as written in DDL. */
export function ttlExpression(table: TableDefinition, days: number): string {
  if (!Number.isInteger(days) || days < 1) {
    throw new StorageError(`retention ${days}: expected a whole number of days, 1 or more`);
  }
  return `${table.ttlFrom} + INTERVAL ${days} DAY`;
}

interface Placement {
  /** Qualified or bare table name as it appears after CREATE TABLE. */
  target: string;
  onCluster: string;
  engine: string;
  ttl: string;
}

function columnDefinition(c: Column, withCodec = true): string {
  const def = c.default === undefined ? '' : ` DEFAULT ${c.default}`;
  const codec = withCodec ? ` CODEC(${c.codec})` : '';
  return `${quoteIdentifier(c.name)} ${c.type}${def} COMMENT ${quoteString(c.comment)}${codec}`;
}

function createTable(table: TableDefinition, placement: Placement): string {
  const columns = table.columns.map((c) => `    ${columnDefinition(c)}`);
  for (const i of table.indexes) {
    columns.push(`    INDEX ${i.name} ${i.expression} TYPE ${i.type} GRANULARITY ${i.granularity}`);
  }
  const settings = Object.entries(table.settings).map(([k, v]) => `${k} = ${v}`);
  return [
    `CREATE TABLE IF NOT EXISTS ${placement.target}${placement.onCluster}`,
    '(',
    columns.join(',\n'),
    ')',
    `ENGINE = ${placement.engine}`,
    `PARTITION BY ${table.partitionBy}`,
    `ORDER BY (${table.orderBy.join(', ')})`,
    ...(placement.ttl ? [`TTL ${placement.ttl}`] : []),
    ...(settings.length > 0 ? [`SETTINGS ${settings.join(', ')}`] : []),
    `COMMENT ${quoteString(table.comment)}`,
  ].join('\n');
}

/**
 * CREATE TABLE for one node, in the current database. Without `retentionDays`
 * there is no TTL clause: the migrations create tables that way and the
 * retention is set (and later changed) by ALTER at every start.
 */
export function singleNodeTableDdl(table: TableDefinition, retentionDays?: number): string {
  return createTable(table, {
    target: quoteIdentifier(table.name),
    onCluster: '',
    engine: table.version ? `${table.engine}(${table.version})` : table.engine,
    ttl: retentionDays === undefined ? '' : ttlExpression(table, retentionDays),
  });
}

/**
 * ALTER TABLE ... ADD COLUMN for each column that migration `version` adds to
 * `table` (`since` in tables.ts), in the same place a fresh CREATE puts it, so
 * an upgraded table and a new one have the same columns in the same order.
 */
export function addedColumnsDdl(table: TableDefinition, version: number): string[] {
  return table.columns
    .filter((c) => c.since === version)
    .map((c) => addColumn(table, c, quoteIdentifier(table.name), '', true));
}

function addColumn(
  table: TableDefinition,
  column: Column,
  target: string,
  onCluster: string,
  withCodec: boolean,
): string {
  const before = table.columns[table.columns.indexOf(column) - 1];
  const place = before ? `AFTER ${quoteIdentifier(before.name)}` : 'FIRST';
  return (
    `ALTER TABLE ${target}${onCluster} ADD COLUMN IF NOT EXISTS ` +
    `${columnDefinition(column, withCodec)} ${place}`
  );
}

/**
 * The cluster layout, in the order to apply it: the database, then per table a
 * Replicated `<name>_local` on every replica and a Distributed `<name>` over
 * them that applications read and write. Rows of one host stay on one shard,
 * so a host's time range and a redelivered heartbeat's duplicate meet there.
 * Then the columns later migrations added, on both: the collector does not
 * migrate a cluster, so applying this again after an upgrade is how an existing
 * layout gets them (on a new one they are already there and nothing happens).
 */
export function clusterDdl(clusterName: string, database: string, retentionDays = 14): string[] {
  const cluster = quoteIdentifier(clusterName);
  const db = quoteIdentifier(database);
  const onCluster = ` ON CLUSTER ${cluster}`;
  const statements = [`CREATE DATABASE IF NOT EXISTS ${db}${onCluster}`];
  for (const table of TABLES) {
    const local = `${table.name}_local`;
    const localTarget = `${db}.${quoteIdentifier(local)}`;
    const distributedTarget = `${db}.${quoteIdentifier(table.name)}`;
    // {shard}, {replica} and {database} are server macros, expanded on each node.
    const zkPath = `/clickhouse/tables/{shard}/{database}/${local}`;
    statements.push(
      createTable(table, {
        target: localTarget,
        onCluster,
        engine: `Replicated${table.engine}(${quoteString(zkPath)}, '{replica}'${table.version ? `, ${table.version}` : ''})`,
        ttl: ttlExpression(table, retentionDays),
      }),
      `CREATE TABLE IF NOT EXISTS ${distributedTarget}${onCluster} AS ${localTarget}` +
        ` ENGINE = Distributed(${cluster}, ${db}, ${quoteIdentifier(local)}, ${table.shardingKey})` +
        ` COMMENT ${quoteString(table.comment)}`,
    );
    for (const column of table.columns.filter((c) => c.since !== undefined)) {
      statements.push(
        addColumn(table, column, localTarget, onCluster, true),
        // A Distributed table stores nothing: no codec to give it.
        addColumn(table, column, distributedTarget, onCluster, false),
      );
    }
  }
  statements.push(
    resetAggregatesViewDdl(
      `${db}.${quoteIdentifier('reset_aggregates_from_agents_local')}`,
      `${db}.${quoteIdentifier('agents_local')}`,
      `${db}.${quoteIdentifier('reset_aggregates_local')}`,
      onCluster,
    ),
  );
  return statements;
}

/**
 * A heartbeat's storm aggregates, one row each, written by the same INSERT
 * that stores the heartbeat: a heartbeat is never stored without its
 * aggregates, and a redelivered one repeats the same rows, which collapse in
 * reset_aggregates' ReplacingMergeTree. In a cluster it runs on each node,
 * from agents_local to reset_aggregates_local: both shard by host.
 */
export function resetAggregatesViewDdl(
  view: string,
  from: string,
  to: string,
  onCluster = '',
): string {
  return `CREATE MATERIALIZED VIEW IF NOT EXISTS ${view}${onCluster}
TO ${to}
AS SELECT
    ts, host, boot_id, run_id,
    a.netns AS netns, a.direction AS direction, a.reason AS reason, a.family AS family,
    a.remote_prefix AS remote_prefix, a.remote_port AS remote_port, a.resets AS resets,
    a.first_ts AS first_ts, a.last_ts AS last_ts
FROM ${from}
ARRAY JOIN aggregates AS a`;
}

/** Changes the retention of a cluster layout (the collector leaves a cluster's schema alone). */
export function clusterRetentionDdl(
  clusterName: string,
  database: string,
  retentionDays: number,
): string[] {
  const cluster = quoteIdentifier(clusterName);
  const db = quoteIdentifier(database);
  return TABLES.map(
    (table) =>
      `ALTER TABLE ${db}.${quoteIdentifier(`${table.name}_local`)} ON CLUSTER ${cluster}` +
      ` MODIFY TTL ${ttlExpression(table, retentionDays)}`,
  );
}
