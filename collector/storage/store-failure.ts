// Why an insert failed: because of the rows it carried, or because of the store.
// The difference decides what happens to the messages: rows the store refuses go
// to the dead-letter stream, but a store that cannot take anything (disk full,
// server away, overloaded, read-only) must not turn every message into a refusal:
// the collector holds them in JetStream and tries again later.
import { NETWORK_ERRNOS, QueryTimeoutError, engineErrorLine } from './errors.js';

export type StoreFailureKind =
  | 'disk_full'
  | 'unreachable'
  | 'overloaded'
  | 'read_only'
  | 'denied'
  | 'schema'
  | 'rows'
  | 'unknown';

export interface StoreFailure {
  kind: StoreFailureKind;
  /**
   * 'store': nothing can be inserted until the store is fixed; 'rows': these rows
   * are at fault; 'unknown': only a retry of each message alone can tell.
   */
  scope: 'store' | 'rows' | 'unknown';
  /** The engine's error, one line, ending with ClickHouse's name for it. */
  line: string;
}

// ClickHouse's names (src/Common/ErrorCodes.cpp), grouped by what the operator does.
const BY_NAME: Readonly<Record<string, StoreFailureKind>> = {
  NOT_ENOUGH_SPACE: 'disk_full',
  CANNOT_FSYNC: 'disk_full',
  NETWORK_ERROR: 'unreachable',
  SOCKET_TIMEOUT: 'unreachable',
  ALL_CONNECTION_TRIES_FAILED: 'unreachable',
  ALL_REPLICAS_ARE_STALE: 'unreachable',
  NO_AVAILABLE_REPLICA: 'unreachable',
  TOO_MANY_PARTS: 'overloaded',
  MEMORY_LIMIT_EXCEEDED: 'overloaded',
  CANNOT_ALLOCATE_MEMORY: 'overloaded',
  TOO_MANY_SIMULTANEOUS_QUERIES: 'overloaded',
  TIMEOUT_EXCEEDED: 'overloaded',
  QUOTA_EXCEEDED: 'overloaded',
  SERVER_OVERLOADED: 'overloaded',
  QUERY_WAS_CANCELLED: 'overloaded',
  ABORTED: 'overloaded',
  KEEPER_EXCEPTION: 'overloaded',
  NO_ZOOKEEPER: 'overloaded',
  REPLICA_IS_NOT_IN_QUORUM: 'overloaded',
  UNEXPECTED_ZOOKEEPER_ERROR: 'overloaded',
  TABLE_IS_READ_ONLY: 'read_only',
  TABLE_IS_BEING_RESTARTED: 'read_only',
  CANNOT_WRITE_TO_FILE_DESCRIPTOR: 'read_only',
  CANNOT_WRITE_TO_FILE: 'read_only',
  READONLY: 'denied',
  ACCESS_DENIED: 'denied',
  NOT_ENOUGH_PRIVILEGES: 'denied',
  AUTHENTICATION_FAILED: 'denied',
  REQUIRED_PASSWORD: 'denied',
  UNKNOWN_USER: 'denied',
  IP_ADDRESS_NOT_ALLOWED: 'denied',
  UNKNOWN_TABLE: 'schema',
  UNKNOWN_DATABASE: 'schema',
  NO_SUCH_COLUMN_IN_TABLE: 'schema',
  THERE_IS_NO_COLUMN: 'schema',
  UNKNOWN_IDENTIFIER: 'schema',
  CANNOT_PARSE_TEXT: 'rows',
  CANNOT_PARSE_INPUT_ASSERTION_FAILED: 'rows',
  CANNOT_PARSE_QUOTED_STRING: 'rows',
  CANNOT_PARSE_ESCAPE_SEQUENCE: 'rows',
  CANNOT_PARSE_NUMBER: 'rows',
  CANNOT_PARSE_DATE: 'rows',
  CANNOT_PARSE_DATETIME: 'rows',
  CANNOT_PARSE_IPV4: 'rows',
  CANNOT_PARSE_IPV6: 'rows',
  CANNOT_PARSE_UUID: 'rows',
  CANNOT_PARSE_BOOL: 'rows',
  INCORRECT_DATA: 'rows',
  TYPE_MISMATCH: 'rows',
  TOO_LARGE_STRING_SIZE: 'rows',
  VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE: 'rows',
  UNKNOWN_ELEMENT_OF_ENUM: 'rows',
  CANNOT_CONVERT_TYPE: 'rows',
  INCORRECT_NUMBER_OF_COLUMNS: 'rows',
  TOO_MANY_PARTITIONS: 'rows',
};

// errno names, from the error itself or from the engine's text ("errno: 28").
const BY_ERRNO: Readonly<Record<string, StoreFailureKind>> = {
  ENOSPC: 'disk_full',
  EDQUOT: 'disk_full',
  EROFS: 'read_only',
  EIO: 'read_only',
  EACCES: 'denied',
  EPERM: 'denied',
};
const ERRNO_NUMBERS: Readonly<Record<string, string>> = {
  '28': 'ENOSPC',
  '122': 'EDQUOT',
  '30': 'EROFS',
  '5': 'EIO',
};

const SCOPE: Readonly<Record<StoreFailureKind, StoreFailure['scope']>> = {
  disk_full: 'store',
  unreachable: 'store',
  overloaded: 'store',
  read_only: 'store',
  denied: 'store',
  schema: 'store',
  rows: 'rows',
  unknown: 'unknown',
};

/** Classifies a failed insert's error (a StorageError from either backend, or anything else). */
export function classifyStoreFailure(err: unknown): StoreFailure {
  const { line, type } = engineErrorLine(err);
  const kind = kindOf(err, type ?? lastName(err));
  return { kind, scope: SCOPE[kind], line };
}

function kindOf(err: unknown, type: string | undefined): StoreFailureKind {
  // The first errno or engine name found, outermost first: a StorageError wraps the
  // engine's error, which may wrap a socket's.
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof QueryTimeoutError) return 'overloaded';
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (NETWORK_ERRNOS.has(code)) return 'unreachable';
      if (code in BY_ERRNO) return BY_ERRNO[code]!;
      if (code === 'CHDB_CLOSED') return 'unreachable';
      if (code === 'CHDB_TIMEOUT') return 'overloaded';
    }
    const message = e instanceof Error ? e.message : typeof e === 'string' ? e : '';
    // @clickhouse/client's own request timeout.
    if (/^Timeout error/.test(message)) return 'unreachable';
    const errno = /errno: (\d+)/.exec(message)?.[1];
    if (errno && errno in ERRNO_NUMBERS) return BY_ERRNO[ERRNO_NUMBERS[errno]!]!;
    if (/No space left on device|Disk quota exceeded/i.test(message)) return 'disk_full';
    if (/Read-only file system/i.test(message)) return 'read_only';
  }
  if (type && type in BY_NAME) return BY_NAME[type]!;
  if (type?.startsWith('CANNOT_PARSE_')) return 'rows';
  return 'unknown';
}

/**
 * ClickHouse's name for an error whose first line lacks it: a parse error runs over
 * several lines (the row, the column, a hint) and names itself at the very end.
 */
function lastName(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const message = e instanceof Error ? e.message : '';
    const name = /\(([A-Z][A-Z0-9_]+)\)[.\s]*$/.exec(message)?.[1];
    if (name) return name;
  }
  return undefined;
}

/** What an operator does about a failing store, for the one log line that reports it. */
export function storeFailureFix(kind: StoreFailureKind, location: string): string {
  switch (kind) {
    case 'disk_full':
      return `free space where the store writes (${location})`;
    case 'unreachable':
      return `check that ClickHouse at ${location} is up and reachable from here`;
    case 'overloaded':
      return 'ClickHouse is overloaded (parts, memory, queries or Keeper); it usually recovers as merges catch up, else check its limits and merges';
    case 'read_only':
      return `the store cannot write (a read-only or failing disk, a replica without Keeper) at ${location}: fix its storage`;
    case 'denied':
      return "grant the collector's ClickHouse user INSERT and SELECT on its database";
    case 'schema':
      return 'the tables are not what this collector expects: restart the collector so it migrates them, or check who altered them';
    case 'rows':
    case 'unknown':
      return "see ClickHouse's own log for this error";
  }
}

/** A failure's kind in words, for log lines: "disk full". */
export function storeFailureWords(kind: StoreFailureKind): string {
  return kind.replace('_', ' ');
}
