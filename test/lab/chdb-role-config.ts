// chDB as one of rstscope's ClickHouse roles. chDB (clickhouse-local) always
// logs in as `default` and reads no CREATE USER, but it does load users.xml
// from a config file and enforces the grants and the settings profile written
// there. So a chDB process whose `default` has a role's grants and profile
// (from clickhouse-roles.ts, the same lists the operator's SQL is made from)
// is that role, enforced by the real engine. One engine per process: each role
// runs in a child (chdb-as-role.ts), one after another on the same data.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BatchSpan } from '../../collector/ingest/stored-events.js';
import {
  readerProfile,
  roleGrants,
  type ReaderKind,
  type RoleKind,
} from '../../collector/storage/clickhouse-roles.js';
import type { ReadOnlyQueryRequest } from '../../collector/storage/storage.js';
import type { ReadOnlyQueryOptions } from '../../collector/storage/read-only-query.js';

const xml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Writes config.xml and users.xml for the role under dir; returns the config file. */
export function chdbRoleConfig(
  dir: string,
  database: string,
  role: RoleKind,
  profile?: ReaderKind,
): string {
  mkdirSync(dir, { recursive: true });
  const grants = roleGrants(role, database)
    .map((g) => `<query>${xml(`GRANT ${g.privilege} ON ${g.on}`)}</query>`)
    .join('');
  let profileXml = '';
  if (profile) {
    const settings = Object.entries(readerProfile(profile).settings);
    const values = settings.map(([name, s]) => `<${name}>${xml(String(s.value))}</${name}>`);
    const constraints = settings.map(([name, s]) => {
      const min = s.min === undefined ? '' : `<min>${s.min}</min>`;
      const max = s.max === undefined ? '' : `<max>${s.max}</max>`;
      return `<${name}>${min}${max}${s.constant ? '<const/>' : ''}</${name}>`;
    });
    profileXml = `<role>${values.join('')}<constraints>${constraints.join('')}</constraints></role>`;
  }
  const users = join(dir, 'users.xml');
  writeFileSync(
    users,
    `<clickhouse><profiles><default/>${profileXml}</profiles>` +
      '<users><default><password></password><networks><ip>::/0</ip></networks>' +
      `<profile>${profile ? 'role' : 'default'}</profile><quota>default</quota>` +
      `<grants>${grants}</grants></default></users>` +
      '<quotas><default/></quotas></clickhouse>',
  );
  const config = join(dir, 'config.xml');
  writeFileSync(
    config,
    `<clickhouse><user_directories><users_xml><path>${xml(users)}</path></users_xml></user_directories></clickhouse>`,
  );
  return config;
}

export type RoleStep =
  | { do: 'sql'; sql: string; params?: Record<string, unknown> }
  | { do: 'migrate' }
  | { do: 'checkSchema' }
  | { do: 'readOnlyQuery'; request: ReadOnlyQueryRequest; options?: ReadOnlyQueryOptions }
  | { do: 'storedEventKeys'; batches: BatchSpan[] }
  | { do: 'assertReadOnlyUser' };

export interface RoleJob {
  dataDir: string;
  configFile: string;
  database: string;
  /** Only the owner may: CREATE DATABASE needs a grant the others lack. */
  createDatabase: boolean;
  steps: RoleStep[];
}

export type RoleOutcome =
  { ok: true; value: unknown } | { ok: false; error: string; type: string | undefined };

const CHILD = fileURLToPath(new URL('./chdb-as-role-child.js', import.meta.url));

/** Runs the steps in a chDB child as the role; one outcome per step. */
export function runAsRole(job: RoleJob): RoleOutcome[] {
  // Under vitest this module is the .ts source: the child runs from dist/.
  const child = CHILD.includes('/dist/')
    ? CHILD
    : CHILD.replace(/\/test\/lab\//, '/dist/test/lab/');
  const out = execFileSync(process.execPath, [child, JSON.stringify(job)], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out) as RoleOutcome[];
}
