// The collector's query service end to end: embedded ClickHouse (chDB) with the
// real schema, the gRPC server on a free port, and the CLI's client and command.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryClient } from '../cli/query-client.js';
import { runSqlCommand } from '../cli/sql-command.js';
import { queryFailure, startQueryServer } from '../collector/query/index.js';
import type { QueryServer } from '../collector/query/index.js';
import { QueryRefusedError, QueryTimeoutError, StorageError } from '../collector/storage/errors.js';
import type { Storage } from '../collector/storage/storage.js';
import type { HealthCheckResponse } from '../proto/index.js';
import { runCaptured } from './lab/captured-io.js';
import { clientFailure } from './lab/client-failure.js';
import { freePort } from './lab/free-port.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';

// Yesterday, inside the retention, so no TTL merge removes the rows mid-test.
const DAY = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
const ROWS = (
  [
    ['web-1', 'sent', 'NO_SOCKET', 443, 0],
    ['web-2', 'received', 'UNKNOWN', 8080, 517],
    ['db-1', 'sent', 'TCP_ABORT_ON_DATA', 5432, 1],
  ] as const
).map(([host, direction, reason, remote_port, bytes_acked], i) => ({
  host,
  direction,
  reason,
  remote_port,
  bytes_acked,
  ts: `${DAY}T12:00:0${i}.000000001Z`,
  family: 'ipv4',
  local_addr: '10.0.0.1',
  local_port: 40_000 + i,
  remote_addr: `10.0.0.${i + 2}`,
  batch_id: 'query-test/boot/1/1',
  batch_index: i,
}));
// The server's row maximum: small, so a request above it shows the clamp.
const MAX_ROWS = 50;

const sql = (argv: string[], env: NodeJS.ProcessEnv = {}) => runCaptured(runSqlCommand, argv, env);

describe('query service', () => {
  let dir = '';
  let storage: Storage | undefined;
  let server: QueryServer | undefined;
  let client: QueryClient | undefined;
  const logs: { msg: string; code?: string; sql?: string }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rstscope-query-'));
    storage = await openEmbeddedStorage(join(dir, 'data'));
    await storage.insert('resets', ROWS);
    const log = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
    server = await startQueryServer({
      listen: '127.0.0.1:0',
      storage,
      limits: { maxRows: MAX_ROWS },
      log,
      health: { probeIntervalMs: 100 },
    });
    client = new QueryClient(server.address);
  });

  afterAll(async () => {
    // Each step runs even when an earlier one failed, so nothing is left behind.
    try {
      client?.close();
      await server?.shutdown();
    } finally {
      try {
        await storage?.close();
      } finally {
        if (dir) await rm(dir, { recursive: true, force: true });
      }
    }
  });

  it('listens on the port it was given, resolved', () => {
    expect(server!.address).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
  });

  it('returns rows and column types', async () => {
    const response = await client!.sql({
      sql: 'SELECT host, reason, remote_port, bytes_acked FROM resets ORDER BY remote_port',
    });
    expect(response.columns).toEqual([
      { name: 'host', type: 'LowCardinality(String)' },
      { name: 'reason', type: 'LowCardinality(String)' },
      { name: 'remote_port', type: 'UInt16' },
      { name: 'bytes_acked', type: 'UInt64' },
    ]);
    // 64-bit integers come quoted: JSON numbers lose precision above 2^53.
    expect(response.rows.map((row) => JSON.parse(row))).toEqual([
      { host: 'web-1', reason: 'NO_SOCKET', remote_port: 443, bytes_acked: '0' },
      { host: 'db-1', reason: 'TCP_ABORT_ON_DATA', remote_port: 5432, bytes_acked: '1' },
      { host: 'web-2', reason: 'UNKNOWN', remote_port: 8080, bytes_acked: '517' },
    ]);
    expect(response.truncated).toBe(false);
    expect(Number(response.rows_read)).toBeGreaterThanOrEqual(3);
  });

  it('binds parameters as values, never as SQL', async () => {
    const query =
      'SELECT host FROM resets WHERE host = {host:String} AND remote_port > {port:UInt16}';
    const match = await client!.sql({ sql: query, params: { host: 'web-2', port: '80' } });
    expect(match.rows).toEqual(['{"host":"web-2"}']);
    const injected = await client!.sql({ sql: query, params: { host: "x' OR 1=1 --", port: '0' } });
    expect(injected.rows).toEqual([]);
  });

  it.each([
    ['INSERT', "INSERT INTO resets (host) VALUES ('evil')", /only SELECT/],
    ['DROP', 'DROP TABLE resets', /only SELECT/],
    ['two statements', 'SELECT 1; SELECT 2', /one statement/],
    ['a syntax error', 'SELECT host FROM resets WHERE', /SYNTAX_ERROR/],
    ['an unknown table', 'SELECT * FROM no_such_table', /UNKNOWN_TABLE/],
    ['a missing parameter', 'SELECT {host:String}', /host/],
    ['empty SQL', '  ', /empty/],
  ])('refuses %s with INVALID_ARGUMENT and one readable line', async (_what, query, detail) => {
    const err = await clientFailure(client!.sql({ sql: query }));
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(err.message).toMatch(/^query refused: /);
    expect(err.message).toMatch(detail);
    expect(err.message).not.toMatch(/\n|\s+at \S+ \(/);
  });

  it('logs each failed query once', async () => {
    const query = 'DROP TABLE resets -- logged';
    await clientFailure(client!.sql({ sql: query }));
    const logged = logs.filter((entry) => entry.sql === query);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ msg: 'sql query failed', code: 'INVALID_ARGUMENT' });
  });

  it('stops a runaway query at its timeout with DEADLINE_EXCEEDED', async () => {
    const started = Date.now();
    const err = await clientFailure(
      client!.sql({
        sql: 'SELECT sum(cityHash64(number)) FROM numbers(1000000000000)',
        timeout_ms: 500,
      }),
    );
    expect(err.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(err.message).toMatch(/^query timed out after 500ms/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('answers the next query correctly after a timeout', async () => {
    // Runs right after the runaway query above, and stops one of its own.
    const first = await client!.sql({ sql: 'SELECT 1 AS one' });
    const stopped = await clientFailure(
      client!.sql({
        sql: 'SELECT sum(number) AS total FROM numbers(1000000000000)',
        timeout_ms: 300,
      }),
    );
    const next = await client!.sql({ sql: 'SELECT 1 AS one' });
    // Nothing of a stopped query may show up in a later one's result.
    for (const response of [first, next]) {
      expect(response.columns).toEqual([{ name: 'one', type: 'UInt8' }]);
      expect(response.rows).toEqual(['{"one":1}']);
    }
    expect(stopped.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
  });

  it('truncates at max_rows and never beyond the server maximum', async () => {
    const ten = await client!.sql({ sql: 'SELECT number FROM numbers(1000)', max_rows: 10 });
    expect(ten.rows).toHaveLength(10);
    expect(ten.truncated).toBe(true);
    const clamped = await client!.sql({
      sql: 'SELECT number FROM numbers(1000)',
      max_rows: 100_000,
    });
    expect(clamped.rows).toHaveLength(MAX_ROWS);
    expect(clamped.truncated).toBe(true);
    const exact = await client!.sql({ sql: 'SELECT number FROM numbers(10)', max_rows: 10 });
    expect(exact.truncated).toBe(false);
  });

  it('answers health checks for the server and the query service', async () => {
    expect(await client!.check('')).toBe('SERVING');
    expect(await client!.check('rstscope.v1.Query')).toBe('SERVING');
    const err = await clientFailure(client!.check('no.such.Service'));
    expect(err.code).toBe(GrpcStatus.NOT_FOUND);
  });

  it('streams health changes to Watch', async () => {
    const seen: HealthCheckResponse['status'][] = [];
    const stream = client!.watch('rstscope.v1.Query');
    stream.on('data', (response: HealthCheckResponse) => seen.push(response.status));
    stream.on('error', () => {}); // cancel() below ends the call with CANCELLED
    try {
      await expect.poll(() => seen).toEqual(['SERVING']);
      server!.setServing(false);
      await expect.poll(() => seen).toEqual(['SERVING', 'NOT_SERVING']);
      expect(await client!.check('')).toBe('NOT_SERVING');
      server!.setServing(true);
      await expect.poll(() => seen).toEqual(['SERVING', 'NOT_SERVING', 'SERVING']);
    } finally {
      server!.setServing(true);
      stream.cancel();
    }
  });

  it('tells a Watch on an unknown service SERVICE_UNKNOWN', async () => {
    const seen: string[] = [];
    const stream = client!.watch('no.such.Service');
    stream.on('data', (response: HealthCheckResponse) => seen.push(response.status));
    stream.on('error', () => {});
    try {
      await expect.poll(() => seen).toEqual(['SERVICE_UNKNOWN']);
    } finally {
      stream.cancel();
    }
  });

  describe('rstscope sql', () => {
    const query = 'SELECT host, reason, bytes_acked FROM resets ORDER BY remote_port';

    it('prints an aligned table, numbers right-aligned, and the count on stderr', async () => {
      const result = await sql(['--server', server!.address, query]);
      expect(result.code).toBe(0);
      expect(result.out).toBe(
        [
          'host   reason             bytes_acked',
          'web-1  NO_SOCKET                    0',
          'db-1   TCP_ABORT_ON_DATA            1',
          'web-2  UNKNOWN                    517',
          '',
        ].join('\n'),
      );
      expect(result.err).toBe('3 rows\n');
    });

    it('prints JSON lines exactly as the server sent them', async () => {
      const result = await sql(['--json', query], { RSTSCOPE_SERVER: server!.address });
      const response = await client!.sql({ sql: query });
      expect(result.code).toBe(0);
      expect(result.out).toBe(response.rows.map((row) => `${row}\n`).join(''));
      expect(result.err).toBe('');
    });

    it('binds --param and says when rows were cut off', async () => {
      const result = await sql([
        '--server',
        server!.address,
        '--param',
        'first=0',
        '--max-rows',
        '2',
        'SELECT number FROM numbers(10) WHERE number >= {first:UInt64}',
      ]);
      expect(result.code).toBe(0);
      expect(result.out).toBe('number\n     0\n     1\n');
      expect(result.err).toBe('2 rows (truncated at 2; --max-rows raises the limit)\n');
    });

    it('reports a refused query in one line, exit 1', async () => {
      const result = await sql(['--server', server!.address, 'DROP TABLE resets']);
      expect(result.code).toBe(1);
      expect(result.out).toBe('');
      expect(result.err).toMatch(/^rstscope sql: query refused: only SELECT .*\n$/);
      expect(result.err.split('\n')).toHaveLength(2);
    });

    it.each([
      [['--max-rows', 'ten', 'SELECT 1'], /^rstscope sql: --max-rows ten: expected a whole number/],
      [['--timeout', 'soon', 'SELECT 1'], /^rstscope sql: --timeout soon: expected a duration/],
      [
        ['--param', 'no-equals', 'SELECT 1'],
        /^rstscope sql: --param no-equals: expected NAME=VALUE/,
      ],
      [['--server', 'nowhere', 'SELECT 1'], /^rstscope sql: --server nowhere: expected HOST:PORT/],
      [['--colour', 'SELECT 1'], /^rstscope sql: .*--colour.*; see 'rstscope sql --help'/],
      [['SELECT', '1'], /^rstscope sql: expected the SQL as one argument, got 2; quote it/],
      [[], /^rstscope sql: expected the SQL to run/],
    ])('rejects bad flags %j with one line, exit 2', async (argv, message) => {
      const result = await sql(argv);
      expect(result.code).toBe(2);
      expect(result.err).toMatch(message);
      expect(result.err.split('\n')).toHaveLength(2);
    });

    it('says in one line when the collector cannot be reached', async () => {
      const address = `127.0.0.1:${await freePort()}`;
      const result = await sql(['--server', address, 'SELECT 1']);
      expect(result.code).toBe(1);
      expect(result.err).toBe(
        `rstscope sql: cannot reach the collector at ${address} ` +
          '(is `rstscope collector` or `rstscope up` running? use --server HOST:PORT)\n',
      );
    });
  });
});

// Failures a chDB run cannot produce on demand (a ClickHouse server gone, memory
// limits) still need the right status: the mapping is a pure function.
describe('query failure status', () => {
  const engine = (type: string) => new StorageError(`engine says no (${type})`, { type });
  const timeout = new Error('Code: 159. DB::Exception: Timeout exceeded. (TIMEOUT_EXCEEDED)');
  const syntax = new Error('Code: 62. DB::Exception: Bad. (SYNTAX_ERROR) (version 25.8)\nstack');
  const gone = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  it.each([
    [new QueryRefusedError('query refused: no'), 'INVALID_ARGUMENT', 'query refused: no'],
    [engine('UNKNOWN_TABLE'), 'INVALID_ARGUMENT', 'engine says no (UNKNOWN_TABLE)'],
    [syntax, 'INVALID_ARGUMENT', 'Bad (SYNTAX_ERROR)'],
    [new QueryTimeoutError('stopped'), 'DEADLINE_EXCEEDED', 'query timed out after 1500ms'],
    [
      new StorageError('x', { cause: timeout }),
      'DEADLINE_EXCEEDED',
      'query timed out after 1500ms',
    ],
    [
      engine('MEMORY_LIMIT_EXCEEDED'),
      'RESOURCE_EXHAUSTED',
      'engine says no (MEMORY_LIMIT_EXCEEDED)',
    ],
    [
      new StorageError('no server', { cause: gone }),
      'UNAVAILABLE',
      'storage unreachable: no server',
    ],
    [new TypeError('oops\n    at f (a.ts:1:1)'), 'INTERNAL', 'oops'],
  ] as const)('%s → %s', (err, code, details) => {
    expect(queryFailure(err, 1500)).toEqual({ code: GrpcStatus[code], details });
  });
});
