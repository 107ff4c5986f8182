// Storage on embedded ClickHouse (chDB): the real engine inside the collector's
// process, data in one directory. The default when no server URL is given.
import { mkdir } from 'node:fs/promises';
import { Session, drainPending } from 'chdb';
import { quoteIdentifier } from './ddl.js';
import { QueryTimeoutError, StorageError, engineErrorLine } from './errors.js';
import { migrate } from './migrations.js';
import { readOnlyQuery } from './read-only-query.js';
import { jsonEachRow, type QuerySettings, type SqlRunner } from './sql-runner.js';
import type {
  ReadOnlyQueryRequest,
  ReadOnlyQueryResult,
  Row,
  Storage,
  TableName,
} from './storage.js';

export interface ChdbStorageOptions {
  dataDir: string;
  database: string;
  retentionDays: number;
}

// RFC 3339 with an offset or Z, as the agent writes ts; the basic parser would ignore the zone.
const INSERT_SETTINGS = {
  date_time_input_format: 'best_effort',
  input_format_skip_unknown_fields: 0,
};

export class ChdbStorage implements Storage, SqlRunner {
  readonly backend = 'chdb' as const;
  readonly location: string;

  private constructor(
    private readonly session: Session,
    private readonly options: ChdbStorageOptions,
  ) {
    this.location = options.dataDir;
  }

  /** Opens (creating) the data directory and the database; the session's default database is it. */
  static async open(options: ChdbStorageOptions): Promise<ChdbStorage> {
    const database = quoteIdentifier(options.database);
    try {
      await mkdir(options.dataDir, { recursive: true });
    } catch (err) {
      throw new StorageError(
        `cannot create the chDB data directory ${options.dataDir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    let session: Session;
    try {
      // Connection arguments are the session's defaults: 64-bit integers as JSON
      // strings, so both backends return them the same way.
      session = new Session(options.dataDir, {
        connectionArgs: ['--output_format_json_quote_64bit_integers=1'],
      });
    } catch (err) {
      // chDB runs one engine per process: a second data directory is refused.
      throw new StorageError(
        `cannot open embedded ClickHouse in ${options.dataDir}: ${engineErrorLine(err).line}`,
        { cause: err },
      );
    }
    const storage = new ChdbStorage(session, options);
    try {
      await storage.command(`CREATE DATABASE IF NOT EXISTS ${database}`);
      // USE lasts for the session, which is exactly what is wanted here: every
      // statement, rstscope's and users', resolves unqualified names in this database.
      await storage.command(`USE ${database}`);
    } catch (err) {
      await storage.close();
      throw err;
    }
    return storage;
  }

  migrate(): Promise<{ applied: number[]; current: number }> {
    return migrate(this, this.options.retentionDays);
  }

  async insert(table: TableName, rows: readonly Row[]): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.session.insert({
        table: `${this.options.database}.${table}`,
        values: Buffer.from(jsonEachRow(rows)),
        format: 'JSONEachRow',
        settings: INSERT_SETTINGS,
      });
    } catch (err) {
      throw storageError(err, `insert of ${rows.length} rows into ${table} failed`);
    }
  }

  async command(sql: string, params: Record<string, unknown> = {}): Promise<void> {
    try {
      await this.session.queryBindAsync(sql, params, { format: 'TSV' });
    } catch (err) {
      throw storageError(err);
    }
  }

  async query<T = Row>(sql: string, params: Record<string, unknown> = {}): Promise<T[]> {
    let text: string;
    try {
      text = (await this.session.queryBindAsync(sql, params, { format: 'JSONEachRow' })).text();
    } catch (err) {
      throw storageError(err);
    }
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as T);
  }

  async queryText(
    sql: string,
    params: Record<string, unknown>,
    // Settings are already in the SQL's SETTINGS clause: chDB has no per-query settings argument.
    options: { format: string; settings: QuerySettings; timeoutMs: number },
  ): Promise<string> {
    try {
      const result = await this.session.queryBindAsync(sql, params, {
        format: options.format,
        timeout: options.timeoutMs,
      });
      return result.text();
    } catch (err) {
      throw storageError(err);
    }
  }

  readOnlyQuery(request: ReadOnlyQueryRequest): Promise<ReadOnlyQueryResult> {
    return readOnlyQuery(this, request);
  }

  async close(): Promise<void> {
    this.session.close();
    // A query abandoned at its client-side timeout still runs in the engine;
    // until it ends, the process cannot open a Session again.
    await drainPending();
  }
}

function storageError(err: unknown, context?: string): StorageError {
  const code = (err as { code?: unknown } | null)?.code;
  const { line, type } = engineErrorLine(err);
  if (code === 'CHDB_TIMEOUT') {
    // Only the client-side backstop raises this; the engine's own limit comes as TIMEOUT_EXCEEDED.
    return new QueryTimeoutError(`embedded ClickHouse did not answer in time: ${line}`, {
      cause: err,
    });
  }
  if (code === 'CHDB_CLOSED') return new StorageError('the storage is closed', { cause: err });
  return new StorageError(context ? `${context}: ${line}` : line, { cause: err, type });
}
