// The one interface both storage backends implement: a ClickHouse server through
// @clickhouse/client, and embedded ClickHouse through chDB. Same DDL, same SQL.

export type TableName = 'resets' | 'agents' | 'addresses';

/** A row as ClickHouse takes it in JSONEachRow: column name → value. */
export type Row = Record<string, unknown>;

/** A column of a Native block: its name and the type its data is written in. */
export interface NativeColumn {
  name: string;
  type: string;
}

export interface StorageOptions {
  /** ClickHouse server URL (http[s]://host:port). Absent: embedded chDB in dataDir. */
  url?: string;
  user: string;
  password: string;
  database: string;
  /** TLS to the server: CA bundle and, for mutual TLS, a client certificate and key. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** chDB's data directory (embedded backend only). */
  dataDir: string;
  /** Rows older than this many days are dropped by TTL. */
  retentionDays: number;
  /** The user is a role's reader whose settings profile fixes readonly (server only). */
  readonlyByProfile?: boolean;
}

export interface ReadOnlyQueryRequest {
  sql: string;
  /** Values for {name:Type} placeholders, as text; ClickHouse parses them by type. */
  params: Record<string, string>;
  maxRows: number;
  timeoutMs: number;
}

export interface ReadOnlyQueryResult {
  columns: { name: string; type: string }[];
  /** One JSON object per row, 64-bit integers quoted. */
  rows: string[];
  truncated: boolean;
  rowsRead: number;
  elapsedMs: number;
}

export interface Storage {
  readonly backend: 'chdb' | 'clickhouse';
  /** Where the data lives, for people: the server URL or the data directory. */
  readonly location: string;
  /** Creates the database and applies pending migrations; idempotent. */
  migrate(): Promise<{ applied: number[]; current: number }>;
  /** One INSERT of all rows (JSONEachRow). Throws StorageError on failure. */
  insert(table: TableName, rows: readonly Row[]): Promise<void>;
  /**
   * One INSERT of ready-made TabSeparated text (one row per line, these columns): the
   * collector's hot path, which builds it straight from protobuf. Throws StorageError.
   */
  insertTsv(table: TableName, columns: readonly string[], text: string): Promise<void>;
  /**
   * One INSERT of ready-made blocks of ClickHouse's Native format with these
   * columns: the collector's hot path on a backend that takes it (chDB; absent:
   * the collector writes TSV). Throws StorageError.
   */
  insertNative?(
    table: TableName,
    columns: readonly NativeColumn[],
    blocks: readonly Uint8Array[],
    rows: number,
  ): Promise<void>;
  /** A trusted query of rstscope's own, every value bound as a parameter. */
  query<T = Row>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  /** A trusted statement without a result (DDL, ALTER, OPTIMIZE), values bound as parameters. */
  command(sql: string, params?: Record<string, unknown>): Promise<void>;
  /** A user's query: one SELECT, read-only, bounded in rows and time. */
  readOnlyQuery(request: ReadOnlyQueryRequest): Promise<ReadOnlyQueryResult>;
  close(): Promise<void>;
}
