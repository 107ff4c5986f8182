// The collector's flags for ClickHouse roles, spread into its parseArgs options
// (like KUBE_OPTIONS): a second user for the query API, and --migrate-only for
// the schema owner. Passwords come from the environment only, never argv.
import { CollectorConfigError } from '../errors.js';
import type { QueryUser } from './collector-storage.js';

export const QUERY_PASSWORD_ENV = 'CLICKHOUSE_QUERY_PASSWORD';

export interface RoleConfig {
  /** The query API's ClickHouse user (default: the collector's own). */
  queryUser?: QueryUser;
  /** Apply the migrations as the given user and exit (default false). */
  migrateOnly: boolean;
}

export const ROLE_OPTIONS = {
  'clickhouse-query-user': { type: 'string' },
  'migrate-only': { type: 'boolean', default: false },
} as const;

export const ROLE_USAGE = `  --clickhouse-query-user USER
                      run with roles: the query API reads as USER (env CLICKHOUSE_QUERY_USER,
                      password from env ${QUERY_PASSWORD_ENV}), the collector's own user only
                      inserts, and startup checks the schema instead of migrating it
  --migrate-only      create or upgrade the schema as the given user (the schema owner), then exit;
                      'rstscope clickhouse-roles' prints the users and grants (docs/storage.md)`;

export function roleConfig(
  values: { 'clickhouse-query-user'?: string; 'migrate-only': boolean },
  env: NodeJS.ProcessEnv,
  url: string | undefined,
): RoleConfig {
  const user = values['clickhouse-query-user'] ?? env.CLICKHOUSE_QUERY_USER;
  if (user === undefined || user === '') return { migrateOnly: values['migrate-only'] };
  if (url === undefined) {
    throw new CollectorConfigError(
      '--clickhouse-query-user needs --clickhouse-url: embedded ClickHouse (chDB) has no users',
    );
  }
  if (values['migrate-only']) {
    throw new CollectorConfigError(
      '--migrate-only runs as the schema owner (--clickhouse-user) alone: drop --clickhouse-query-user',
    );
  }
  return { queryUser: { user, password: env[QUERY_PASSWORD_ENV] ?? '' }, migrateOnly: false };
}
