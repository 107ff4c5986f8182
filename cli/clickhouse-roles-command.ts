// `rstscope clickhouse-roles`: the SQL that creates rstscope's ClickHouse roles,
// the readers' settings profiles and one user per job, for an administrator to
// run once (and again after an upgrade or a password change). Passwords are read
// from the environment and printed only as salted hashes.
import { parseArgs } from 'node:util';
import { CollectorConfigError } from '../collector/errors.js';
import { PASSWORD_ENV, rolesSql } from '../collector/storage/clickhouse-roles-sql.js';
import { quoteIdentifier } from '../collector/storage/ddl.js';
import { DEFAULT_DATABASE } from '../collector/storage/open-storage.js';
import type { UserKind } from '../collector/storage/clickhouse-roles.js';

export const CLICKHOUSE_ROLES_USAGE = `usage: rstscope clickhouse-roles [--database DB]

Prints the SQL that creates rstscope's ClickHouse roles and users, to run as an
administrator: clickhouse-client --multiquery < roles.sql
  DB_owner role    all of database DB: the schema (user DB_migrator runs
                   'rstscope collector --migrate-only')
  DB_writer role   INSERT into the tables the collector writes, SELECT on the few
                   columns it reads back (user DB_collector)
  DB_reader role   SELECT on DB, read-only with limits: users DB_api (the query
                   API, profile DB_api_limits) and DB_grafana (DB_grafana_limits)
  --database DB    the database (default ${DEFAULT_DATABASE})

Passwords come from the environment, one per user; a user whose variable is unset
is left out (its role and profile are still made):
  ${PASSWORD_ENV.migrator}  ${PASSWORD_ENV.collector}  ${PASSWORD_ENV.api}  ${PASSWORD_ENV.grafana}`;

export function runClickhouseRolesCommand(argv: string[], env: NodeJS.ProcessEnv): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { database: { type: 'string', default: DEFAULT_DATABASE } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new CollectorConfigError(
      `${(err as Error).message.replace(/\s*\n\s*/g, ' ')}; see 'rstscope clickhouse-roles --help'`,
    );
  }
  try {
    quoteIdentifier(values.database);
  } catch {
    throw new CollectorConfigError(`--database ${values.database}: expected letters, digits and _`);
  }
  const passwords: Partial<Record<UserKind, string>> = {};
  for (const [kind, name] of Object.entries(PASSWORD_ENV) as [UserKind, string][]) {
    passwords[kind] = env[name];
  }
  const { statements, skipped } = rolesSql(values.database, passwords);
  const notes = skipped.map(
    ({ user, env: name }) => `user ${user} left out: set ${name} to make it`,
  );
  for (const note of notes) console.error(`rstscope clickhouse-roles: ${note}`);
  console.log([...notes.map((n) => `-- ${n}`), ...statements.map((s) => `${s};`)].join('\n'));
  return 0;
}
