// ClickHouse users per role, enforced by the real engine: chDB loads a role's
// grants and settings profile for its one user (test/lab/chdb-role-config.ts),
// from the same lists `rstscope clickhouse-roles` prints its SQL from. The owner
// migrates, the writer does what the collector does and nothing else, the
// readers read with their limits. The SQL itself is checked to parse; running it
// needs a ClickHouse server (test/clickhouse-server.test.ts, with CLICKHOUSE_URL).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_LIMITS, GRAFANA_LIMITS } from '../collector/storage/clickhouse-roles.js';
import { rolesSql } from '../collector/storage/clickhouse-roles-sql.js';
import { LATEST_VERSION } from '../collector/storage/migrations.js';
import {
  chdbRoleConfig,
  runAsRole,
  type RoleOutcome,
  type RoleStep,
} from './lab/chdb-role-config.js';
import { resetRow, rowTime, v4 } from './lab/reset-rows.js';

const DATABASE = 'rstscope';
const BATCH = 'h1/b/1/7';

describe('ClickHouse roles on the real engine (chDB with a role per process)', () => {
  let dir: string;
  let dataDir: string;
  const as = (role: 'owner' | 'writer' | 'api' | 'grafana', steps: RoleStep[]) => {
    const config = chdbRoleConfig(
      join(dir, role),
      DATABASE,
      role === 'api' || role === 'grafana' ? 'reader' : role,
      role === 'api' || role === 'grafana' ? role : undefined,
    );
    return runAsRole({
      dataDir,
      configFile: config,
      database: DATABASE,
      createDatabase: role === 'owner',
      steps,
    });
  };
  const sql = (text: string): RoleStep => ({ do: 'sql', sql: text });
  const denied = (o: RoleOutcome | undefined) => (o?.ok ? 'allowed' : o?.type);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rstscope-roles-'));
    dataDir = join(dir, 'data');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a writer finds no schema and says who must create it', () => {
    // Before anything exists the database is missing too: the writer may not create it.
    const [check] = runAsRole({
      dataDir,
      configFile: chdbRoleConfig(join(dir, 'owner'), DATABASE, 'owner'),
      database: DATABASE,
      createDatabase: true,
      steps: [{ do: 'checkSchema' }],
    });
    expect(check).toMatchObject({ ok: false });
    expect((check as { error: string }).error).toMatch(
      /database rstscope has no rstscope schema yet: run 'rstscope collector --migrate-only' once as the schema owner/,
    );
  });

  it('the owner applies every migration', () => {
    const [migrated, version] = as('owner', [
      { do: 'migrate' },
      sql('SELECT max(version) FROM schema_migrations'),
    ]);
    expect(migrated).toMatchObject({ ok: true, value: { current: LATEST_VERSION } });
    expect(version).toEqual({ ok: true, value: `${LATEST_VERSION}\n` });
  });

  it('the writer inserts what the collector writes and reads back only what it needs', () => {
    const reset = resetRow({
      ts: rowTime(0),
      host: 'h1',
      direction: 'sent',
      batch_id: BATCH,
      batch_index: 3,
      local_addr: v4('10.0.0.1'),
      remote_addr: v4('10.0.0.2'),
    });
    const aggregate = {
      netns: 1,
      direction: 'sent',
      reason: 'NO_SOCKET',
      family: 'ipv4',
      remote_prefix: '10.1.0.0/24',
      remote_port: 42000,
      resets: '800',
      first_ts: rowTime(0),
      last_ts: rowTime(1),
    };
    const heartbeat = {
      ts: rowTime(1000),
      host: 'h1',
      boot_id: 'b',
      run_id: 1,
      covered_from: rowTime(0),
      aggregates: [aggregate],
    };
    const address = {
      kind: 'inventory',
      range_start: v4('10.0.0.1'),
      range_end: v4('10.0.0.1'),
      name: 'gw',
      first_seen: rowTime(0),
      last_seen: rowTime(0),
    };
    const outcomes = as('writer', [
      sql(`INSERT INTO resets FORMAT JSONEachRow ${JSON.stringify(reset)}`),
      // The heartbeat's aggregates reach reset_aggregates through the materialized view.
      sql(`INSERT INTO agents FORMAT JSONEachRow ${JSON.stringify(heartbeat)}`),
      sql(`INSERT INTO addresses FORMAT JSONEachRow ${JSON.stringify(address)}`),
      {
        do: 'storedEventKeys',
        batches: [
          {
            host: 'h1',
            batchId: BATCH,
            rows: 4,
            firstTs: '1795255200.000000000',
            lastTs: '1795255201.000000000',
          },
        ],
      },
      { do: 'checkSchema' },
    ]);
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    expect(outcomes[3]).toEqual({ ok: true, value: [`${BATCH}#3`] });
    expect(outcomes[4]).toEqual({ ok: true, value: { current: LATEST_VERSION } });
    // The owner sees all three tables and the view's row.
    const counts = as('owner', [
      sql(
        'SELECT (SELECT count() FROM resets), (SELECT count() FROM agents), (SELECT count() FROM addresses), (SELECT sum(resets) FROM reset_aggregates)',
      ),
    ]);
    expect(counts[0]).toEqual({ ok: true, value: '1\t1\t1\t800\n' });
  });

  it('the writer cannot read the resets, change, drop or create anything', () => {
    const attempts = [
      'SELECT * FROM resets',
      'SELECT comm FROM resets',
      'SELECT agent_version FROM agents',
      'SELECT name FROM addresses',
      'ALTER TABLE resets DELETE WHERE 1',
      'ALTER TABLE resets ADD COLUMN x UInt8',
      'TRUNCATE TABLE resets',
      'DROP TABLE resets',
      'CREATE TABLE t (x UInt8) ENGINE = Memory',
      "SELECT * FROM file('/etc/passwd')",
    ];
    const outcomes = as('writer', [...attempts.map(sql), { do: 'migrate' }]);
    expect(
      Object.fromEntries([...attempts, 'migrate'].map((a, i) => [a, denied(outcomes[i])])),
    ).toEqual(Object.fromEntries([...attempts, 'migrate'].map((a) => [a, 'ACCESS_DENIED'])));
  });

  it('the API reader reads tables and views and nothing else', () => {
    const reads = [
      'SELECT count() FROM resets',
      'SELECT count() FROM reset_causes',
      'SELECT count() FROM agent_coverage',
    ];
    const writes = [
      `INSERT INTO resets (host) VALUES ('x')`,
      'ALTER TABLE resets DELETE WHERE 1',
      'DROP TABLE resets',
      'CREATE TEMPORARY TABLE t (x UInt8)',
      "SELECT * FROM file('/etc/passwd')",
      "SELECT * FROM url('http://127.0.0.1:1/')",
    ];
    const outcomes = as('api', [...reads, ...writes].map(sql));
    expect(outcomes.slice(0, reads.length).every((o) => o.ok)).toBe(true);
    for (const [i, o] of outcomes.slice(reads.length).entries()) {
      expect([writes[i], o.ok]).toEqual([writes[i], false]);
      expect(['ACCESS_DENIED', 'READONLY']).toContain((o as { type: string }).type);
    }
  });

  it('the collector starts its query API only as a user whose profile holds readonly', () => {
    for (const role of ['api', 'grafana'] as const) {
      expect(as(role, [{ do: 'assertReadOnlyUser' }])).toEqual([{ ok: true, value: undefined }]);
    }
    const [writer] = as('writer', [{ do: 'assertReadOnlyUser' }]);
    expect(writer).toMatchObject({ ok: false });
    expect((writer as { error: string }).error).toMatch(
      /^--clickhouse-query-user this-role may write: its settings profile must hold readonly/,
    );
  });

  it('the API reader hits its limits and cannot lift them', () => {
    const outcomes = as('api', [
      sql(`SELECT number FROM numbers(${API_LIMITS.maxResultRows + 1})`),
      sql('SELECT count() FROM numbers(1000000000000) SETTINGS max_execution_time = 1'),
      sql('SELECT groupArray(number) FROM numbers(300000000)'),
      sql('SELECT 1 SETTINGS readonly = 0'),
      sql(`SELECT 1 SETTINGS max_execution_time = ${API_LIMITS.maxExecutionSeconds + 1}`),
      sql('SELECT 1 SETTINGS max_execution_time = 0'),
      sql('SELECT 1 SETTINGS max_result_rows = 0'),
      sql(`SELECT 1 SETTINGS max_memory_usage = ${API_LIMITS.maxMemoryBytes * 2}`),
      sql("SELECT 1 SETTINGS result_overflow_mode = 'break'"),
      // What clients send with every query: output formats, and the API's tighter limits.
      sql(
        "SELECT 1 SETTINGS output_format_json_quote_64bit_integers = 1, date_time_input_format = 'best_effort', max_execution_time = 5, max_result_rows = 11",
      ),
    ]);
    expect(outcomes.map(denied)).toEqual([
      'TOO_MANY_ROWS_OR_BYTES',
      'TIMEOUT_EXCEEDED',
      'MEMORY_LIMIT_EXCEEDED',
      'READONLY',
      'SETTING_CONSTRAINT_VIOLATION',
      'SETTING_CONSTRAINT_VIOLATION',
      'SETTING_CONSTRAINT_VIOLATION',
      'SETTING_CONSTRAINT_VIOLATION',
      'SETTING_CONSTRAINT_VIOLATION',
      'allowed',
    ]);
  });

  it('the Grafana reader has its own, wider limits', () => {
    const outcomes = as('grafana', [
      sql(`SELECT count() FROM (SELECT number FROM numbers(${API_LIMITS.maxResultRows + 1}))`),
      sql(`SELECT number FROM numbers(${GRAFANA_LIMITS.maxResultRows + 1})`),
      sql(`SELECT 1 SETTINGS max_execution_time = ${GRAFANA_LIMITS.maxExecutionSeconds + 1}`),
      sql(`INSERT INTO resets (host) VALUES ('x')`),
    ]);
    expect(outcomes.map(denied)).toEqual([
      'allowed',
      'TOO_MANY_ROWS_OR_BYTES',
      'SETTING_CONSTRAINT_VIOLATION',
      'ACCESS_DENIED',
    ]);
  });

  // Under a profile that holds readonly ClickHouse refuses any change of it, so
  // the collector's query user (readonlyByProfile, collector-storage.ts) leaves it
  // to the profile.
  it('the API path (readOnlyQuery) answers as the API reader', () => {
    const [answer] = as('api', [
      {
        do: 'readOnlyQuery',
        request: {
          sql: 'SELECT count() AS n FROM reset_causes',
          params: {},
          maxRows: 10,
          timeoutMs: 5000,
        },
        options: { readonlyByProfile: true },
      },
    ]);
    expect(answer).toMatchObject({ ok: true, value: { rows: ['{"n":"1"}'] } });
  });

  it('a writer on a schema older than the code says so in one line', () => {
    as('owner', [
      sql(
        `ALTER TABLE schema_migrations DELETE WHERE version = ${LATEST_VERSION} SETTINGS mutations_sync = 1`,
      ),
    ]);
    const [check] = as('writer', [{ do: 'checkSchema' }]);
    expect(check).toEqual({
      ok: false,
      type: undefined,
      error: `ClickHouse database rstscope is at schema version ${LATEST_VERSION - 1}, this collector needs ${LATEST_VERSION}: run 'rstscope collector --migrate-only' once as the schema owner, then start the collector again`,
    });
    const [again] = as('owner', [{ do: 'migrate' }]);
    expect(again).toMatchObject({ ok: true, value: { applied: [LATEST_VERSION] } });
  });

  it("every statement of 'rstscope clickhouse-roles' parses, and no password is in it", () => {
    const passwords = { migrator: 'owner-secret', collector: 'writer-secret', api: 'api-secret' };
    const { statements, skipped } = rolesSql(DATABASE, passwords, () => 'salt');
    expect(skipped).toEqual([{ user: 'rstscope_grafana', env: 'CLICKHOUSE_GRAFANA_PASSWORD' }]);
    const text = statements.join('\n');
    for (const secret of Object.values(passwords)) expect(text).not.toContain(secret);
    const hash = createHash('sha256')
      .update('writer-secret' + 'salt')
      .digest('hex');
    expect(statements).toContain(
      `ALTER USER \`rstscope_collector\` IDENTIFIED WITH sha256_hash BY '${hash}' SALT 'salt' DEFAULT DATABASE \`rstscope\``,
    );
    expect(statements.filter((s) => s.includes('TO `rstscope_writer`'))).toEqual([
      'GRANT INSERT ON `rstscope`.`resets` TO `rstscope_writer`',
      'GRANT INSERT ON `rstscope`.`agents` TO `rstscope_writer`',
      'GRANT INSERT ON `rstscope`.`addresses` TO `rstscope_writer`',
      'GRANT INSERT ON `rstscope`.`reset_aggregates` TO `rstscope_writer`',
      'GRANT SELECT(`host`, `ts`, `batch_id`, `batch_index`) ON `rstscope`.`resets` TO `rstscope_writer`',
      'GRANT SELECT(`ts`, `host`, `boot_id`, `run_id`, `aggregates`) ON `rstscope`.`agents` TO `rstscope_writer`',
      'GRANT SELECT(`version`) ON `rstscope`.`schema_migrations` TO `rstscope_writer`',
    ]);
    const parsed = as(
      'owner',
      statements.map((s) => ({
        do: 'sql',
        sql: 'SELECT formatQuery({q:String})',
        params: { q: s },
      })),
    );
    expect(parsed.filter((o) => !o.ok)).toEqual([]);
    expect(parsed).toHaveLength(statements.length);
  });
});
