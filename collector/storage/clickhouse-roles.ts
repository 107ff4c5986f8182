// ClickHouse users per role on a server, defined once: the SQL an operator runs
// (clickhouse-roles-sql.ts) and the test that proves the grants on the real
// engine (test/clickhouse-roles.test.ts) both follow from these lists.
//
//  owner   runs the migrations (`rstscope collector --migrate-only`): all of its
//          own database, nothing outside it;
//  writer  the collector: INSERT into the tables it writes, and SELECT on only
//          the columns it reads back (a redelivered batch's stored events, the
//          schema version); no DDL, no ALTER, no reading the resets' contents;
//  reader  the query API and Grafana: SELECT on the database, through a settings
//          profile each (readonly and the limits below).
import {
  DEFAULT_QUERY_MAX_MEMORY_BYTES,
  DEFAULT_QUERY_MAX_RESULT_BYTES,
} from './read-only-query.js';
import { DEFAULT_SQL_MAX_ROWS, DEFAULT_SQL_MAX_TIMEOUT_MS } from '../query/query-limits.js';
import { quoteIdentifier } from './ddl.js';

export type RoleKind = 'owner' | 'writer' | 'reader';

/** One GRANT without its grantee: what the role may do, on what. */
export interface Grant {
  privilege: string;
  /** `db.*` or `db.table`, quoted. */
  on: string;
}

/**
 * A setting of a profile: the value it starts at and the range a query may move
 * it in. The minimum matters as much as the maximum: for these limits 0 means
 * "no limit", which a maximum alone would let a query set.
 */
export interface ProfileSetting {
  value: number | string;
  min?: number;
  max?: number;
  /** The query may not change it at all. */
  constant?: boolean;
}

export interface ProfileDefinition {
  /** Which reader this profile is for. */
  kind: ReaderKind;
  settings: Readonly<Record<string, ProfileSetting>>;
}

/** Limits of the Grafana profile: dashboards aggregate; an ad-hoc table panel is bounded. */
export const GRAFANA_LIMITS = Object.freeze({
  maxExecutionSeconds: 60,
  maxResultRows: 1_000_000,
  maxResultBytes: 256 * 1024 * 1024,
  maxMemoryBytes: DEFAULT_QUERY_MAX_MEMORY_BYTES,
});

/**
 * Limits of the query API's profile: the most the API itself lets one request
 * have (query-limits.ts, read-only-query.ts), so the API's own per-query
 * settings always fit and a query that bypassed them would still be bounded.
 */
export const API_LIMITS = Object.freeze({
  maxExecutionSeconds: DEFAULT_SQL_MAX_TIMEOUT_MS / 1000,
  // The API asks for one row more than it returns, to know the result was cut.
  maxResultRows: DEFAULT_SQL_MAX_ROWS + 1,
  maxResultBytes: DEFAULT_QUERY_MAX_RESULT_BYTES,
  maxMemoryBytes: DEFAULT_QUERY_MAX_MEMORY_BYTES,
});

/** The tables the collector inserts into; reset_aggregates fills from agents (materialized view). */
export const WRITTEN_TABLES = ['resets', 'agents', 'addresses', 'reset_aggregates'] as const;

/** Columns the collector reads back, per table (see readBackReason). */
export const READ_BACK_COLUMNS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  // collector/ingest/stored-events.ts: which events of a redelivered batch are stored.
  resets: ['host', 'ts', 'batch_id', 'batch_index'],
  // reset_aggregates_from_agents, the materialized view each heartbeat insert
  // runs: a view made without SQL SECURITY DEFINER (before ClickHouse 24.4, and
  // on chDB) reads its source as the inserting user.
  agents: ['ts', 'host', 'boot_id', 'run_id', 'aggregates'],
  // schema-check.ts: the schema version this database is at.
  schema_migrations: ['version'],
});

export function roleGrants(kind: RoleKind, database: string): Grant[] {
  const db = quoteIdentifier(database);
  const table = (name: string) => `${db}.${quoteIdentifier(name)}`;
  switch (kind) {
    case 'owner':
      // Migrations create and alter tables, views and a materialized view, record
      // themselves and drop views that went stale: the database is the owner's.
      return [{ privilege: 'ALL', on: `${db}.*` }];
    case 'writer':
      return [
        ...WRITTEN_TABLES.map((name) => ({ privilege: 'INSERT', on: table(name) })),
        ...Object.entries(READ_BACK_COLUMNS).map(([name, columns]) => ({
          privilege: `SELECT(${columns.map(quoteIdentifier).join(', ')})`,
          on: table(name),
        })),
      ];
    case 'reader':
      // Tables and the diagnosis views; views read their tables as the caller.
      return [{ privilege: 'SELECT', on: `${db}.*` }];
  }
}

/**
 * A reader's profile. readonly = 2, not 1: both refuse every write and DDL, but
 * readonly = 1 also refuses any setting sent with a query, and every client
 * sends some (output formats, and the API its tighter per-query limits). The
 * constraints keep those settings inside the profile's limits. readonly = 2
 * alone would allow temporary tables: the role's grants (SELECT only) refuse
 * those, and file() and url(). Settings without a constraint here (max_threads,
 * read limits) a reader may raise.
 */
export function readerProfile(kind: ReaderKind): ProfileDefinition {
  const limits = kind === 'api' ? API_LIMITS : GRAFANA_LIMITS;
  return {
    kind,
    settings: {
      readonly: { value: 2, constant: true },
      // A thousandth of a second: the smallest timeout the API sends.
      max_execution_time: {
        value: limits.maxExecutionSeconds,
        min: 0.001,
        max: limits.maxExecutionSeconds,
      },
      max_result_rows: { value: limits.maxResultRows, min: 1, max: limits.maxResultRows },
      max_result_bytes: { value: limits.maxResultBytes, min: 1, max: limits.maxResultBytes },
      max_memory_usage: { value: limits.maxMemoryBytes, min: 1, max: limits.maxMemoryBytes },
      // 'break' would return a cut result as if whole: a limit must be an error.
      result_overflow_mode: { value: 'throw', constant: true },
      timeout_overflow_mode: { value: 'throw', constant: true },
    },
  };
}

/**
 * Names of one database's roles, profiles and users, so a second install on the
 * same server gets its own. Users and roles are named apart: ClickHouse grants
 * to either by name.
 */
export function roleNames(database: string): {
  roles: Record<RoleKind, string>;
  profiles: Record<ReaderKind, string>;
  users: Record<UserKind, string>;
} {
  quoteIdentifier(database);
  return {
    roles: {
      owner: `${database}_owner`,
      writer: `${database}_writer`,
      reader: `${database}_reader`,
    },
    profiles: { api: `${database}_api_limits`, grafana: `${database}_grafana_limits` },
    users: {
      migrator: `${database}_migrator`,
      collector: `${database}_collector`,
      api: `${database}_api`,
      grafana: `${database}_grafana`,
    },
  };
}

export type ReaderKind = 'api' | 'grafana';
export type UserKind = 'migrator' | 'collector' | 'api' | 'grafana';

/** Each user's role and, for the readers, its profile. */
export const USER_ROLES: Readonly<Record<UserKind, { role: RoleKind; profile?: ReaderKind }>> =
  Object.freeze({
    migrator: { role: 'owner' },
    collector: { role: 'writer' },
    api: { role: 'reader', profile: 'api' },
    grafana: { role: 'reader', profile: 'grafana' },
  });
