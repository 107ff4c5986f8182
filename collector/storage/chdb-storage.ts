// Storage on embedded ClickHouse (chDB): the real engine inside the collector's
// process, data in one directory. The default when no server URL is given.
import { mkdir } from 'node:fs/promises';
import { drainPending } from 'chdb';
import { ChdbSession, chdbError } from './chdb-session.js';
import { quoteIdentifier } from './ddl.js';
import { StorageError } from './errors.js';
import { migrate } from './migrations.js';
import { readOnlyQuery } from './read-only-query.js';
import { countLines, jsonEachRow } from './sql-runner.js';
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

export class ChdbStorage implements Storage {
  readonly backend = 'chdb' as const;
  readonly location: string;

  private constructor(
    /** Inserts, migrations and rstscope's own queries. */
    private readonly own: ChdbSession,
    /** Users' read-only queries, which may take their whole time limit. */
    private readonly users: ChdbSession,
    private readonly options: ChdbStorageOptions,
  ) {
    this.location = options.dataDir;
  }

  /** Opens (creating) the data directory and the database. */
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
    const own = await ChdbSession.open(options.dataDir, database);
    try {
      return new ChdbStorage(own, await ChdbSession.open(options.dataDir, database), options);
    } catch (err) {
      own.close();
      await drainPending();
      throw err;
    }
  }

  migrate(): Promise<{ applied: number[]; current: number }> {
    return migrate(this.own, this.options.retentionDays);
  }

  async insert(table: TableName, rows: readonly Row[]): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.own.session.insert({
        table: `${this.options.database}.${table}`,
        values: Buffer.from(jsonEachRow(rows)),
        format: 'JSONEachRow',
        settings: INSERT_SETTINGS,
      });
    } catch (err) {
      throw chdbError(err, `insert of ${rows.length} rows into ${table} failed`);
    }
  }

  async insertTsv(table: TableName, columns: readonly string[], text: string): Promise<void> {
    if (text === '') return;
    try {
      await this.own.session.insert({
        table: `${this.options.database}.${table}`,
        values: Buffer.from(text),
        format: 'TabSeparated',
        columns,
        settings: INSERT_SETTINGS,
      });
    } catch (err) {
      throw chdbError(err, `insert of ${countLines(text)} rows into ${table} failed`);
    }
  }

  command(sql: string, params?: Record<string, unknown>): Promise<void> {
    return this.own.command(sql, params);
  }

  query<T = Row>(sql: string, params?: Record<string, unknown>): Promise<T[]> {
    return this.own.query<T>(sql, params);
  }

  readOnlyQuery(request: ReadOnlyQueryRequest): Promise<ReadOnlyQueryResult> {
    return readOnlyQuery(this.users, request);
  }

  async close(): Promise<void> {
    this.own.close();
    this.users.close();
    // A query abandoned at its client-side timeout still runs in the engine;
    // until it ends, the process cannot open a Session again.
    await drainPending();
  }
}
