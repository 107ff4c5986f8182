// Storage on a ClickHouse server through @clickhouse/client (production, Helm).
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  ClickHouseLogLevel,
  createClient,
  type ClickHouseClient,
  type ClickHouseSettings,
} from '@clickhouse/client';
import { quoteIdentifier } from './ddl.js';
import { NETWORK_ERRNOS, QueryTimeoutError, StorageError, engineErrorLine } from './errors.js';
import { migrate } from './migrations.js';
import { readOnlyQuery } from './read-only-query.js';
import { countLines, toJson, type QuerySettings, type SqlRunner } from './sql-runner.js';
import type {
  ReadOnlyQueryRequest,
  ReadOnlyQueryResult,
  Row,
  Storage,
  StorageOptions,
  TableName,
} from './storage.js';

export type ClickHouseServerStorageOptions = Omit<StorageOptions, 'dataDir' | 'url'> & {
  url: string;
};

// Set on every request: 64-bit integers as JSON strings (as on chDB), and
// timestamps parsed with their zone (the agent writes RFC 3339 with Z).
const CLIENT_SETTINGS: ClickHouseSettings = {
  output_format_json_quote_64bit_integers: 1,
  date_time_input_format: 'best_effort',
  input_format_skip_unknown_fields: 0,
};

export class ClickHouseServerStorage implements Storage, SqlRunner {
  readonly backend = 'clickhouse' as const;
  readonly location: string;

  private constructor(
    private readonly client: ClickHouseClient,
    private readonly options: ClickHouseServerStorageOptions,
  ) {
    this.location = redact(options.url);
  }

  /**
   * Connects and checks the user logs in. The database is created by migrate(),
   * not here: a collector running as the writer may not create it (Roles in
   * docs/storage.md), and must be told the schema is missing instead.
   */
  static async open(options: ClickHouseServerStorageOptions): Promise<ClickHouseServerStorage> {
    const base = await clientOptions(options);
    // A request naming a database that does not exist fails: this one names none.
    const bootstrap = createClient(base);
    try {
      await bootstrap.command({ query: 'SELECT 1' });
    } catch (err) {
      throw connectError(err, options);
    } finally {
      await bootstrap.close();
    }
    return new ClickHouseServerStorage(
      createClient({ ...base, database: options.database }),
      options,
    );
  }

  /** Creates the database if it is absent, then applies pending migrations. */
  async migrate(): Promise<{ applied: number[]; current: number }> {
    const bootstrap = createClient(await clientOptions(this.options));
    try {
      await bootstrap.command({
        query: `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(this.options.database)}`,
      });
    } catch (err) {
      throw this.error(err, `cannot create database ${this.options.database}`);
    } finally {
      await bootstrap.close();
    }
    return migrate(this, this.options.retentionDays);
  }

  async insert(table: TableName, rows: readonly Row[]): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.client.insert({ table, values: rows as Row[], format: 'JSONEachRow' });
    } catch (err) {
      throw this.error(err, `insert of ${rows.length} rows into ${table} failed`);
    }
  }

  async insertTsv(table: TableName, columns: readonly string[], text: string): Promise<void> {
    if (text === '' || columns.length === 0) return;
    try {
      await this.client.insert({
        table,
        values: Readable.from([Buffer.from(text)], { objectMode: false }),
        format: 'TabSeparated',
        columns: columns as [string, ...string[]],
      });
    } catch (err) {
      throw this.error(err, `insert of ${countLines(text)} rows into ${table} failed`);
    }
  }

  async command(sql: string, params: Record<string, unknown> = {}): Promise<void> {
    try {
      await this.client.command({ query: sql, query_params: params });
    } catch (err) {
      throw this.error(err);
    }
  }

  async query<T = Row>(sql: string, params: Record<string, unknown> = {}): Promise<T[]> {
    try {
      const result = await this.client.query({
        query: sql,
        format: 'JSONEachRow',
        query_params: params,
      });
      return await result.json<T>();
    } catch (err) {
      throw this.error(err);
    }
  }

  async queryText(
    sql: string,
    params: Record<string, unknown>,
    options: { format: string; settings: QuerySettings; timeoutMs: number },
  ): Promise<string> {
    const abort = AbortSignal.timeout(options.timeoutMs);
    try {
      // exec, not query: query() appends a FORMAT clause, which in `EXPLAIN AST <sql>`
      // would belong to <sql>. default_format chooses the output as chDB's format does.
      const result = await this.client.exec({
        query: sql,
        query_params: params,
        abort_signal: abort,
        clickhouse_settings: {
          ...(options.settings as ClickHouseSettings),
          default_format: options.format as ClickHouseSettings['default_format'],
          // Buffer the (bounded) result on the server, so an error after the first
          // rows arrives as an HTTP error, not appended to a 200 response.
          wait_end_of_query: 1,
        },
      });
      return await readAll(result.stream);
    } catch (err) {
      if (abort.aborted) {
        throw new QueryTimeoutError(`ClickHouse did not answer in ${options.timeoutMs} ms`, {
          cause: err,
        });
      }
      throw this.error(err);
    }
  }

  readOnlyQuery(request: ReadOnlyQueryRequest): Promise<ReadOnlyQueryResult> {
    return readOnlyQuery(this, request, { readonlyByProfile: this.options.readonlyByProfile });
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private error(err: unknown, context?: string): StorageError {
    if (isUnreachable(err)) return connectError(err, this.options);
    const { line, type } = engineErrorLine(err);
    return new StorageError(context ? `${context}: ${line}` : line, { cause: err, type });
  }
}

async function clientOptions(options: ClickHouseServerStorageOptions) {
  return {
    ...credentials(options),
    tls: await readTls(options.tls),
    clickhouse_settings: CLIENT_SETTINGS,
    // bigint values (exact 64-bit) go out as decimal strings.
    json: { parse: JSON.parse, stringify: toJson },
    // Every failure reaches the caller as a StorageError, which the collector logs
    // with its own logger; the client's console logging would say it twice.
    log: { level: ClickHouseLogLevel.OFF },
  };
}

async function readTls(
  tls: StorageOptions['tls'],
): Promise<{ ca_cert: Buffer; cert: Buffer; key: Buffer } | { ca_cert: Buffer } | undefined> {
  if (!tls?.caFile) {
    if (tls?.certFile || tls?.keyFile) {
      throw new StorageError('TLS client certificate given without a CA file: set the CA file too');
    }
    return undefined;
  }
  const read = async (what: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new StorageError(`cannot read the TLS ${what} ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  };
  const ca_cert = await read('CA file', tls.caFile);
  if (!tls.certFile && !tls.keyFile) return { ca_cert };
  if (!tls.certFile || !tls.keyFile) {
    throw new StorageError('mutual TLS needs both a client certificate and its key file');
  }
  return {
    ca_cert,
    cert: await read('certificate', tls.certFile),
    key: await read('key', tls.keyFile),
  };
}

function connectError(err: unknown, options: ClickHouseServerStorageOptions): StorageError {
  const url = redact(options.url);
  const { line, type } = engineErrorLine(err);
  if (isUnreachable(err)) {
    return new StorageError(
      `cannot reach ClickHouse at ${url} (${line}): check the URL and that the server is up and reachable from here`,
      { cause: err, type },
    );
  }
  if (type === 'AUTHENTICATION_FAILED' || type === 'REQUIRED_PASSWORD') {
    return new StorageError(
      `ClickHouse at ${url} refused user ${JSON.stringify(options.user)} (${line}): check the user and password`,
      { cause: err, type },
    );
  }
  return new StorageError(`ClickHouse at ${url}: ${line}`, { cause: err, type });
}

function isUnreachable(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_ERRNOS.has(code)) return true;
    // @clickhouse/client's own request timeout.
    if (e instanceof Error && /^Timeout error/.test(e.message)) return true;
  }
  return false;
}

/**
 * URL and credentials for the client. Credentials written in the URL win, as the
 * client would have it; taking them out here keeps it from warning on stderr.
 */
function credentials(options: ClickHouseServerStorageOptions): {
  url: string;
  username: string;
  password: string;
} {
  let parsed: URL;
  try {
    parsed = new URL(options.url);
  } catch {
    throw new StorageError(`ClickHouse URL ${options.url}: expected http[s]://host:port`);
  }
  const username = parsed.username ? decodeURIComponent(parsed.username) : options.user;
  const password = parsed.password ? decodeURIComponent(parsed.password) : options.password;
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), username, password };
}

/** The URL without its password, for messages and logs. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}
