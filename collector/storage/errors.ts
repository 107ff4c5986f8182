// One class per kind of storage failure. Every message is one line a person can
// act on; the engine's own error stays reachable as `cause`.

export class StorageError extends Error {
  override name = 'StorageError';
  /** ClickHouse's error name (e.g. UNKNOWN_TABLE) when the engine reported one. */
  readonly type: string | undefined;
  constructor(message: string, options?: ErrorOptions & { type?: string }) {
    super(message, options);
    this.type = options?.type;
  }
}

/** A user's read-only query was refused before it ran (gRPC: INVALID_ARGUMENT). */
export class QueryRefusedError extends StorageError {
  override name = 'QueryRefusedError';
}

/** A query ran past its time limit and was stopped (gRPC: DEADLINE_EXCEEDED). */
export class QueryTimeoutError extends StorageError {
  override name = 'QueryTimeoutError';
}

/**
 * The engine's error as one line that ends with ClickHouse's name for it:
 * "Unknown table expression identifier 'x' (UNKNOWN_TABLE)". chDB prefixes
 * "Code: N. DB::Exception: " (sometimes twice) and appends the version and the
 * name again; the server's client puts the name in `type`. Both are folded here.
 */
export function engineErrorLine(err: unknown): { line: string; type: string | undefined } {
  const message = err instanceof Error ? err.message : String(err);
  let text = (message.split('\n', 1)[0] ?? '')
    .replace(/Code: \d+\. DB::Exception: /g, '')
    .replace(/ \(version [^)]*\)/g, '');
  let named: string | undefined;
  for (;;) {
    const tail = /[.\s]*\(([A-Z][A-Z0-9_]+)\)[.\s]*$/.exec(text);
    if (!tail) break;
    named ??= tail[1];
    text = text.slice(0, tail.index);
  }
  text = text.replace(/[.\s]+$/, '') || (err instanceof Error ? err.name : 'unknown error');
  const declared = (err as { type?: unknown } | null)?.type;
  const type = typeof declared === 'string' && declared !== '' ? declared : named;
  return { line: type ? `${text} (${type})` : text, type };
}

/** Socket-level failures: the server is not there, not a problem with the request. */
export const NETWORK_ERRNOS: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ETIMEDOUT',
]);
