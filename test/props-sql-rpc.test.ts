// Bad input to the SQL RPC: arbitrary text and queries built from the fragments
// people try (writes, DDL, SYSTEM, SETTINGS, FORMAT, INTO OUTFILE, table functions,
// several statements, huge results) against the real query server on embedded
// ClickHouse. Each is answered read-only or refused with a gRPC status and a
// one-line detail; afterwards the stored data is unchanged and the server answers.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, expect } from 'vitest';
import { QueryClient, QueryClientError } from '../cli/query-client.js';
import { startQueryServer } from '../collector/query/index.js';
import type { QueryServer } from '../collector/query/index.js';
import type { Storage } from '../collector/storage/storage.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import { propertySuite } from './props/property-suite.js';

const DAY = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
const ROWS = [0, 1, 2].map((i) => ({
  ts: `${DAY}T12:00:0${i}.000000001Z`,
  host: `web-${i}`,
  direction: 'sent',
  reason: 'NO_SOCKET',
  family: 'ipv4',
  local_addr: '10.0.0.1',
  local_port: 40_000 + i,
  remote_addr: `10.0.0.${i + 2}`,
  remote_port: 443,
  batch_id: 'props-sql/boot/1/1',
  batch_index: i,
}));

let dir = '';
let storage: Storage | undefined;
let server: QueryServer | undefined;
let client: QueryClient | undefined;

/** Everything the store holds, as one fingerprint per table: what no query may change. */
async function fingerprint(): Promise<string> {
  const tables = await storage!.query<{ name: string }>(
    'SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name',
  );
  const parts = [tables.map((t) => t.name).join(',')];
  for (const table of ['resets', 'agents', 'addresses']) {
    const [row] = await storage!.query<{ n: string; h: string }>(
      `SELECT count() AS n, sum(cityHash64(*)) AS h FROM ${table}`,
    );
    parts.push(`${table}:${row?.n}:${row?.h}`);
  }
  return parts.join(' ');
}

let before = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rstscope-props-sql-'));
  storage = await openEmbeddedStorage(join(dir, 'data'));
  await storage.insert('resets', ROWS);
  server = await startQueryServer({
    listen: '127.0.0.1:0',
    storage,
    log: pino({ level: 'silent' }),
    limits: { maxRows: 1_000, maxTimeoutMs: 5_000 },
  });
  client = new QueryClient(server.address);
  before = await fingerprint();
}, 60_000);

afterAll(async () => {
  client?.close();
  await server?.shutdown();
  await storage?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const fragment = fc.constantFrom(
  'SELECT count() FROM resets',
  'SELECT * FROM resets',
  'SELECT host FROM resets WHERE remote_port = {p:UInt16}',
  "INSERT INTO resets (host) VALUES ('x')",
  'ALTER TABLE resets DELETE WHERE 1',
  'ALTER TABLE resets UPDATE host = 1 WHERE 1',
  'DROP TABLE resets',
  'TRUNCATE TABLE resets',
  'DETACH TABLE resets',
  'RENAME TABLE resets TO r2',
  'CREATE TABLE t (x UInt8) ENGINE = Memory',
  'OPTIMIZE TABLE resets FINAL',
  'SYSTEM DROP MARK CACHE',
  'SYSTEM SHUTDOWN',
  'KILL QUERY WHERE 1',
  'SET readonly = 0',
  'SELECT 1 SETTINGS readonly = 0',
  'SELECT * FROM (SELECT 1 SETTINGS max_result_rows = 0)',
  'SELECT 1 FORMAT Native',
  "SELECT 1 INTO OUTFILE '/tmp/rstscope-props-out'",
  "SELECT * FROM file('/etc/passwd', 'LineAsString')",
  "SELECT file('/etc/passwd')",
  "SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'x String')",
  "SELECT * FROM executable('id', 'TSV', 'x String')",
  "SELECT * FROM remote('127.0.0.1', system.one)",
  'SELECT * FROM system.numbers',
  'SELECT * FROM numbers(100000000)',
  "SELECT repeat('x', 1000000) FROM numbers(100)",
  'SELECT sleep(3)',
  'EXPLAIN SELECT 1',
  'SHOW TABLES',
  'DESCRIBE resets',
  'WITH (SELECT 1) AS x SELECT x',
  'SELECT 1 UNION ALL SELECT 2',
  '(SELECT 1))',
  "SELECT '",
  '/* */',
  '--',
  ';',
);

const joiner = fc.constantFrom('; ', ';\n', ' ', '\n-- x\n', ' UNION ALL ', ') ', '');

const sqlText = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc
    .array(fc.tuple(fragment, joiner), { minLength: 1, maxLength: 3 })
    .map((parts) => parts.map(([f, j]) => f + j).join('')),
);

/** What a caller gets: rows, or a status with a one-line detail. */
async function sqlOutcome(sql: string, params: Record<string, string>): Promise<string> {
  try {
    const answer = await client!.sql({ sql, params, max_rows: 0, timeout_ms: 2_000 });
    expect(answer.rows.length).toBeLessThanOrEqual(1_000);
    return 'answered';
  } catch (err) {
    expect(err).toBeInstanceOf(QueryClientError);
    const failure = err as QueryClientError;
    expect(failure.code).not.toBe(GrpcStatus.OK);
    expect(failure.message).not.toMatch(/\n|^\s+at /);
    return GrpcStatus[failure.code ?? GrpcStatus.UNKNOWN] ?? 'unknown';
  }
}

propertySuite('the SQL RPC on arbitrary queries', [
  {
    name: 'any SQL is answered read-only or refused with a status and one line; the store is unchanged',
    runs: 120,
    property: () =>
      fc.asyncProperty(
        sqlText,
        fc.dictionary(fc.constantFrom('p', 'x', 'sql'), fc.string({ maxLength: 8 }), {
          maxKeys: 2,
        }),
        async (sql, params) => {
          await sqlOutcome(sql, params);
          expect(await fingerprint()).toBe(before);
          const still = await client!.sql({
            sql: 'SELECT count() AS n FROM resets',
            params: {},
            max_rows: 0,
            timeout_ms: 0,
          });
          expect(still.rows).toEqual([JSON.stringify({ n: String(ROWS.length) })]);
        },
      ),
  },
  {
    name: 'writes, DDL, SYSTEM, SETTINGS, FORMAT, OUTFILE and outside reads are refused as INVALID_ARGUMENT',
    runs: 40,
    property: () =>
      fc.asyncProperty(
        fc.constantFrom(
          "INSERT INTO resets (host) VALUES ('x')",
          'ALTER TABLE resets DELETE WHERE 1',
          'DROP TABLE resets',
          'TRUNCATE TABLE resets',
          'CREATE TABLE t (x UInt8) ENGINE = Memory',
          'SYSTEM SHUTDOWN',
          'SET readonly = 0',
          'SELECT 1 SETTINGS readonly = 0',
          'SELECT 1 FORMAT Native',
          "SELECT 1 INTO OUTFILE '/tmp/rstscope-props-out'",
          "SELECT file('/etc/passwd')",
          "SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'x String')",
          'SELECT 1; DROP TABLE resets',
        ),
        fc.constantFrom('', ' ', '\n', ';', ' -- c'),
        async (sql, tail) => {
          expect(await sqlOutcome(sql + tail, {})).toBe('INVALID_ARGUMENT');
          expect(await fingerprint()).toBe(before);
        },
      ),
  },
]);
