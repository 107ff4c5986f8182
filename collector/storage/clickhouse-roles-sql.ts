// The SQL an operator runs once, as a ClickHouse administrator, to create
// rstscope's roles, the readers' settings profiles and one user per job
// (clickhouse-roles.ts says who may do what). Every statement can run again:
// roles get exactly their grants back, profiles their settings, users their
// password and role, so re-running after an upgrade or a password change is
// how they are brought in line.
//
// Passwords never appear: each user's comes from an environment variable and
// is written as a salted SHA-256 hash, which ClickHouse checks logins against.
import { createHash, randomBytes } from 'node:crypto';
import { quoteIdentifier, quoteString } from './ddl.js';
import {
  USER_ROLES,
  readerProfile,
  roleGrants,
  roleNames,
  type ProfileSetting,
  type RoleKind,
  type UserKind,
} from './clickhouse-roles.js';

/** Where each user's password is read from; the collector reads the same two it logs in with. */
export const PASSWORD_ENV: Readonly<Record<UserKind, string>> = Object.freeze({
  migrator: 'CLICKHOUSE_MIGRATOR_PASSWORD',
  collector: 'CLICKHOUSE_PASSWORD',
  api: 'CLICKHOUSE_QUERY_PASSWORD',
  grafana: 'CLICKHOUSE_GRAFANA_PASSWORD',
});

export interface RolesSql {
  statements: string[];
  /** Users left out because their password variable was not set. */
  skipped: { user: string; env: string }[];
}

/**
 * The statements for `database`. A user whose password is absent is left out
 * (a user without one would let anyone in); its role and profile are still made.
 * `salt` is for tests: by default each user gets 16 random bytes.
 */
export function rolesSql(
  database: string,
  passwords: Partial<Record<UserKind, string>>,
  salt: () => string = () => randomBytes(16).toString('hex'),
): RolesSql {
  const names = roleNames(database);
  const statements: string[] = [];
  for (const kind of ['owner', 'writer', 'reader'] as RoleKind[]) {
    const role = quoteIdentifier(names.roles[kind]);
    statements.push(`CREATE ROLE IF NOT EXISTS ${role}`);
    // Grants from an older version of this list must not linger.
    statements.push(`REVOKE ALL ON *.* FROM ${role}`);
    for (const grant of roleGrants(kind, database)) {
      statements.push(`GRANT ${grant.privilege} ON ${grant.on} TO ${role}`);
    }
  }
  for (const kind of ['api', 'grafana'] as const) {
    const profile = quoteIdentifier(names.profiles[kind]);
    const settings = Object.entries(readerProfile(kind).settings)
      .map(([name, setting]) => profileSetting(name, setting))
      .join(', ');
    statements.push(`CREATE SETTINGS PROFILE IF NOT EXISTS ${profile}`);
    // ALTER ... SETTINGS replaces the whole list.
    statements.push(`ALTER SETTINGS PROFILE ${profile} SETTINGS ${settings}`);
  }
  const skipped: RolesSql['skipped'] = [];
  for (const kind of Object.keys(USER_ROLES) as UserKind[]) {
    const user = quoteIdentifier(names.users[kind]);
    const password = passwords[kind];
    if (password === undefined || password === '') {
      skipped.push({ user: names.users[kind], env: PASSWORD_ENV[kind] });
      continue;
    }
    const { role, profile } = USER_ROLES[kind];
    const userSalt = salt();
    const hash = createHash('sha256')
      .update(password + userSalt)
      .digest('hex');
    const identified = `IDENTIFIED WITH sha256_hash BY ${quoteString(hash)} SALT ${quoteString(userSalt)}`;
    const roleName = quoteIdentifier(names.roles[role]);
    statements.push(
      `CREATE USER IF NOT EXISTS ${user} ${identified}`,
      `ALTER USER ${user} ${identified} DEFAULT DATABASE ${quoteIdentifier(database)}` +
        (profile ? ` SETTINGS PROFILE ${quoteString(names.profiles[profile])}` : ''),
      `GRANT ${roleName} TO ${user}`,
      `ALTER USER ${user} DEFAULT ROLE ${roleName}`,
    );
  }
  return { statements, skipped };
}

function profileSetting(name: string, setting: ProfileSetting): string {
  const value = typeof setting.value === 'string' ? quoteString(setting.value) : setting.value;
  let text = `${name} = ${value}`;
  if (setting.min !== undefined) text += ` MIN ${setting.min}`;
  if (setting.max !== undefined) text += ` MAX ${setting.max}`;
  if (setting.constant) text += ' CONST';
  return text;
}
