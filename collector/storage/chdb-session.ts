// One chDB Session as a SqlRunner, working around what chDB 3.4 does:
//  - a Session answers one query at a time, so ChdbStorage keeps two (its own
//    work and users' queries) and a slow user query cannot stall ingest;
//  - bound queries (queryBindAsync) wait for each other across Sessions too,
//    so a query without parameters goes through queryAsync;
//  - a query that fails after writing part of its output leaves that output at
//    the front of the next result on the same Session. So queries here run one
//    after another, and after a failure a throwaway query takes the leftover.
import { Session } from 'chdb';
import { QueryTimeoutError, StorageError, engineErrorLine } from './errors.js';
import type { QuerySettings, SqlRunner } from './sql-runner.js';

export class ChdbSession implements SqlRunner {
  private constructor(readonly session: Session) {}

  /** Opens a Session on `dataDir` with `database` as its default database. */
  static async open(dataDir: string, quotedDatabase: string): Promise<ChdbSession> {
    let session: Session;
    try {
      // Connection arguments are the session's defaults: 64-bit integers as JSON
      // strings, so both backends return them the same way.
      session = new Session(dataDir, {
        connectionArgs: ['--output_format_json_quote_64bit_integers=1'],
      });
    } catch (err) {
      // chDB runs one engine per process: a second data directory is refused.
      throw new StorageError(
        `cannot open embedded ClickHouse in ${dataDir}: ${engineErrorLine(err).line}`,
        { cause: err },
      );
    }
    const runner = new ChdbSession(session);
    try {
      await runner.command(`CREATE DATABASE IF NOT EXISTS ${quotedDatabase}`);
      // USE lasts for the session, which is what is wanted: every statement on it,
      // rstscope's and users', resolves unqualified names in this database.
      await runner.command(`USE ${quotedDatabase}`);
    } catch (err) {
      session.close();
      throw err;
    }
    return runner;
  }

  private tail: Promise<unknown> = Promise.resolve();

  command(sql: string, params: Record<string, unknown> = {}): Promise<void> {
    return this.run(sql, params, 'TSV').then(() => undefined);
  }

  async query<T>(sql: string, params: Record<string, unknown> = {}): Promise<T[]> {
    const text = await this.run(sql, params, 'JSONEachRow');
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as T);
  }

  queryText(
    sql: string,
    params: Record<string, unknown>,
    // The settings are in the SQL's SETTINGS clause already: chDB takes no others per query.
    options: { format: string; settings: QuerySettings; timeoutMs: number },
  ): Promise<string> {
    return this.run(sql, params, options.format, options.timeoutMs);
  }

  private run(
    sql: string,
    params: Record<string, unknown>,
    format: string,
    timeout?: number,
  ): Promise<string> {
    const result = this.tail.then(async () => {
      try {
        const answer =
          Object.keys(params).length > 0
            ? await this.session.queryBindAsync(sql, params, { format, timeout })
            : await this.session.queryAsync(sql, { format, timeout });
        return answer.text();
      } catch (err) {
        await this.session.queryAsync('SELECT 1', { format: 'TSV' }).catch(() => undefined);
        throw chdbError(err);
      }
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.session.close();
  }
}

export function chdbError(err: unknown, context?: string): StorageError {
  const code = (err as { code?: unknown } | null)?.code;
  const { line, type } = engineErrorLine(err);
  if (code === 'CHDB_TIMEOUT') {
    // Only the client-side backstop raises this; the engine's own limit is TIMEOUT_EXCEEDED.
    return new QueryTimeoutError(`embedded ClickHouse did not answer in time: ${line}`, {
      cause: err,
    });
  }
  if (code === 'CHDB_CLOSED') return new StorageError('the storage is closed', { cause: err });
  return new StorageError(context ? `${context}: ${line}` : line, { cause: err, type });
}
