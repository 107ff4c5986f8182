// Storage on embedded ClickHouse (chDB): the real engine inside the collector's
// process, data in one directory. The default when no server URL is given.
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { drainPending } from 'chdb';
import { ChdbSession, chdbError } from './chdb-session.js';
import { quoteIdentifier, quoteString } from './ddl.js';
import { StorageError } from './errors.js';
import { migrate } from './migrations.js';
import { readOnlyQuery } from './read-only-query.js';
import { countLines, jsonEachRow } from './sql-runner.js';
import type {
  NativeColumn,
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

/** Under the data directory: Native blocks on their way into an insert. */
const INSERT_SPOOL = 'insert-spool';

export class ChdbStorage implements Storage {
  readonly backend = 'chdb' as const;
  readonly location: string;
  /** Native inserts go through a file here (see insertNative). */
  private readonly spool: string;
  private spooled = 0;

  private constructor(
    /** Inserts, migrations and rstscope's own queries. */
    private readonly own: ChdbSession,
    /** Users' read-only queries, which may take their whole time limit. */
    private readonly users: ChdbSession,
    private readonly options: ChdbStorageOptions,
  ) {
    this.location = options.dataDir;
    this.spool = join(options.dataDir, INSERT_SPOOL);
  }

  /** Opens (creating) the data directory and the database. */
  static async open(options: ChdbStorageOptions): Promise<ChdbStorage> {
    const database = quoteIdentifier(options.database);
    try {
      await mkdir(options.dataDir, { recursive: true });
      // One process per data directory (chDB's lock): what a crash left here is ours to drop.
      await rm(join(options.dataDir, INSERT_SPOOL), { recursive: true, force: true });
      await mkdir(join(options.dataDir, INSERT_SPOOL));
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

  /**
   * chDB 3.4 takes raw inserts in text formats only (a binary payload inline in
   * the query is cut short, silently), so the blocks go through a file that
   * ClickHouse reads with file(): ~3 µs a row here against ~22 for TSV.
   */
  async insertNative(
    table: TableName,
    columns: readonly NativeColumn[],
    blocks: readonly Uint8Array[],
    rows: number,
  ): Promise<void> {
    if (!blocks.length) return;
    const path = join(this.spool, `${process.pid}-${++this.spooled}.native`);
    try {
      await writeAll(path, blocks);
      // Literals, not bound parameters: in chDB 3.4 a bound query waits for every
      // other Session's bound queries, so a user's slow query would stall ingest.
      // Both are ours: the path under the data directory and the table's structure.
      const names = columns.map((c) => quoteIdentifier(c.name)).join(', ');
      const structure = columns.map((c) => `${c.name} ${c.type}`).join(', ');
      await this.own.command(
        `INSERT INTO ${quoteIdentifier(this.options.database)}.${quoteIdentifier(table)} (${names})
         SELECT * FROM file(${quoteString(path)}, 'Native', ${quoteString(structure)})`,
      );
    } catch (err) {
      throw err instanceof StorageError
        ? new StorageError(`insert of ${rows} rows into ${table} failed: ${err.message}`, {
            cause: err,
            type: err.type,
          })
        : chdbError(err, `insert of ${rows} rows into ${table} failed`);
    } finally {
      await rm(path, { force: true });
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

/**
 * Writes every byte or throws. writev may write less than asked and not fail: on a
 * disk that fills up it did, and the insert then read a cut block (CANNOT_READ_ALL_DATA,
 * taken for bad rows). Writing the rest makes the full disk say so: ENOSPC.
 */
async function writeAll(path: string, blocks: readonly Uint8Array[]): Promise<void> {
  const file = await open(path, 'w');
  try {
    let left = blocks.filter((b) => b.length > 0);
    while (left.length) {
      const { bytesWritten } = await file.writev(left);
      if (bytesWritten === 0) throw new StorageError(`cannot write ${path}: no progress`);
      left = unwritten(left, bytesWritten);
    }
  } finally {
    await file.close();
  }
}

/** What of `blocks` is left after the first `written` bytes. */
function unwritten(blocks: readonly Uint8Array[], written: number): Uint8Array[] {
  const left: Uint8Array[] = [];
  for (const block of blocks) {
    if (written >= block.length) {
      written -= block.length;
      continue;
    }
    left.push(written ? block.subarray(written) : block);
    written = 0;
  }
  return left;
}
