// What a user's read-only query must do on every backend: refused before it
// runs unless it is one plain SELECT, bounded in rows and time when it does.
// Expects the tables of storage-behaviour.ts with its resets stored.
import { expect, it } from 'vitest';
import { QueryRefusedError, QueryTimeoutError, StorageError } from '../collector/storage/errors.js';
import type { Storage } from '../collector/storage/storage.js';

export function readOnlyQueryBehaviour(ctx: { storage(): Storage }): void {
  const s = () => ctx.storage();

  // A read-only query of the user's: refused before it runs, bounded when it does.
  const refuse = (sql: string, reason: RegExp) =>
    it(`refuses ${sql}`, async () => {
      const err = await s()
        .readOnlyQuery({ sql, params: {}, maxRows: 10, timeoutMs: 5_000 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueryRefusedError);
      expect((err as Error).message).toMatch(reason);
      expect((err as Error).message).not.toContain('\n');
    });
  refuse("INSERT INTO resets (host) VALUES ('x')", /only SELECT queries are allowed, not INSERT/);
  refuse('CREATE TABLE x (a UInt8) ENGINE = Memory', /not CREATE/);
  refuse('DROP TABLE resets', /not DROP/);
  refuse('ALTER TABLE resets DELETE WHERE 1', /not ALTER/);
  refuse('SET readonly = 0', /only SELECT/);
  refuse('SELECT 1; DROP TABLE agents', /exactly one statement/);
  refuse('SELECT * FROM (SELECT 1 SETTINGS readonly = 0)', /SETTINGS clauses are not allowed/);
  refuse('SELECT count() FROM resets SETTINGS max_execution_time = 100', /SETTINGS/);
  refuse("SELECT * FROM file('/etc/hostname', 'LineAsString')", /table function file\(\)/);
  refuse("SELECT file('/etc/hostname')", /function file\(\) is not allowed/);
  refuse("SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')", /table function url\(\)/);
  refuse("SELECT 1 IN (SELECT * FROM remote('127.0.0.1', system.one))", /table function remote/);
  refuse('SELECT 1 FORMAT JSON', /FORMAT and INTO OUTFILE/);
  refuse("SELECT 1 INTO OUTFILE '/tmp/rstscope-outfile'", /FORMAT and INTO OUTFILE/);
  refuse('SELEC 1', /does not parse: .*\(SYNTAX_ERROR\)/);

  it('left the tables standing after the refusals', async () => {
    const [row] = await s().query<{ n: string }>(
      "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name IN ('resets', 'agents')",
    );
    expect(row?.n).toBe('2');
  });

  it('answers a SELECT with names, types and JSON rows, and truncates at maxRows', async () => {
    const result = await s().readOnlyQuery({
      sql: 'SELECT number, toString(number) AS text FROM numbers(100) -- a comment\n;',
      params: {},
      maxRows: 10,
      timeoutMs: 5_000,
    });
    expect(result.columns).toEqual([
      { name: 'number', type: 'UInt64' },
      { name: 'text', type: 'String' },
    ]);
    expect(result.rows).toHaveLength(10);
    expect(result.rows[9]).toBe('{"number":"9","text":"9"}');
    expect(result.truncated).toBe(true);
    const all = await s().readOnlyQuery({
      sql: 'SELECT number FROM numbers(10)',
      params: {},
      maxRows: 10,
      timeoutMs: 5_000,
    });
    expect(all).toMatchObject({ truncated: false, rowsRead: 10 });
    expect(all.rows).toHaveLength(10);
  });

  it('binds parameters by type', async () => {
    const result = await s().readOnlyQuery({
      sql: 'SELECT count() AS n, any(remote_addr) AS addr FROM resets WHERE host = {host:String} AND remote_addr = {addr:IPv6}',
      params: { host: 'node-a', addr: '10.0.0.2' },
      maxRows: 10,
      timeoutMs: 5_000,
    });
    expect(result.rows).toEqual(['{"n":"1","addr":"::ffff:10.0.0.2"}']);
    expect(result.rowsRead).toBeGreaterThan(0);
  });

  it('leaves nothing of a failed query in the next answer', async () => {
    // chDB 3.4 would put the failed query's partial output in front of the next result.
    const failing = 'SELECT number, throwIf(number = 5) FROM numbers(10)';
    await expect(
      s().readOnlyQuery({ sql: failing, params: {}, maxRows: 10, timeoutMs: 5_000 }),
    ).rejects.toThrow(/FUNCTION_THROW_IF_VALUE_IS_NON_ZERO/);
    await expect(
      s().readOnlyQuery({ sql: 'SELECT 1 AS one', params: {}, maxRows: 10, timeoutMs: 5_000 }),
    ).resolves.toMatchObject({ rows: ['{"one":1}'] });
    await expect(s().query(failing)).rejects.toThrow(StorageError);
    await expect(s().query('SELECT 2 AS two')).resolves.toEqual([{ two: 2 }]);
  });

  it("does not hold up rstscope's own queries while a user's query runs", async () => {
    const started = Date.now();
    const slow = s()
      .readOnlyQuery({
        sql: 'SELECT count() FROM numbers(1000000000000) WHERE sipHash64(number) = 0',
        params: {},
        maxRows: 10,
        timeoutMs: 3_000,
      })
      .then(
        () => Date.now() - started,
        () => Date.now() - started,
      );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await s().query('SELECT count() FROM resets');
    const ownDone = Date.now() - started;
    expect(ownDone).toBeLessThan(await slow);
    expect(await slow).toBeGreaterThanOrEqual(2_500);
  });

  it('stops a runaway query at its time limit', async () => {
    const started = Date.now();
    const err = await s()
      .readOnlyQuery({
        sql: 'SELECT count() FROM numbers(1000000000000) WHERE sipHash64(number) = 0',
        params: {},
        maxRows: 10,
        timeoutMs: 300,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueryTimeoutError);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
}
