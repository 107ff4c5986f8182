// The collector's address map, written to the `addresses` table so SQL users
// can ask "who was 10.244.1.7 at 14:02" after the fact. A mapping is written
// when it is new and again when it ends (both within flushEveryMs), and while
// it holds its last_seen is re-stamped every restampEveryMs; the table is a
// ReplacingMergeTree on last_seen, so merges keep each mapping's latest row.
// A failed write costs one log line and is retried at the next flush.
import type { Logger } from 'pino';
import type { Row, Storage } from '../storage/storage.js';
import { mappingIdentity } from './address-book.js';
import type { SeenMapping } from './address-book.js';
import type { Inventory } from './inventory.js';

export const ADDRESS_FLUSH_EVERY_MS = 10_000;
export const ADDRESS_RESTAMP_EVERY_MS = 300_000;

export interface AddressTableOptions {
  storage: Pick<Storage, 'insert'>;
  /** The address map (absent without Kubernetes). */
  map?: { history(): SeenMapping[] };
  inventory?: Inventory;
  log: Pick<Logger, 'warn' | 'info'>;
  flushEveryMs?: number;
  restampEveryMs?: number;
  /** The clock; tests set it. */
  now?: () => number;
}

interface Written {
  /** When this writer last wrote the mapping's row. */
  at: number;
  ended: boolean;
}

export class AddressTable {
  private readonly written = new Map<string, Written>();
  private readonly now: () => number;
  private readonly started: number;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<number> | undefined;
  private failing = false;

  constructor(private readonly options: AddressTableOptions) {
    this.now = options.now ?? Date.now;
    // Inventory entries hold from when this collector loaded them.
    this.started = this.now();
  }

  /** Writes now, then every flushEveryMs. */
  start(): void {
    void this.flush();
    this.timer = setInterval(
      () => void this.flush(),
      this.options.flushEveryMs ?? ADDRESS_FLUSH_EVERY_MS,
    );
    this.timer.unref();
  }

  /** One last write of what changed, then no more. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Writes what is new, ended or due for a re-stamp; resolves to the rows written (0 on failure). */
  async flush(): Promise<number> {
    while (this.flushing) await this.flushing;
    this.flushing = this.write().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async write(): Promise<number> {
    const now = this.now();
    const restampMs = this.options.restampEveryMs ?? ADDRESS_RESTAMP_EVERY_MS;
    const due: { key: string; row: Row; ended: boolean }[] = [];
    const present = new Set<string>();
    const consider = (key: string, ended: boolean, row: () => Row) => {
      present.add(key);
      const w = this.written.get(key);
      if (w && (ended ? w.ended : now - w.at < restampMs)) return;
      due.push({ key, row: row(), ended });
    };
    for (const m of this.options.map?.history() ?? []) {
      consider(mappingKey(m), m.ended !== undefined, () => mappingRow(m, now));
    }
    for (const { entry, first, last } of this.options.inventory?.ranges() ?? []) {
      consider(`inventory|${first}|${last}|${entry.name}`, false, () => ({
        kind: 'inventory',
        range_start: first,
        range_end: last,
        name: entry.name,
        inventory_kind: entry.kind,
        labels: entry.labels,
        first_seen: time(this.started),
        last_seen: time(now),
        ended: null,
      }));
    }
    // Mappings the book no longer keeps (ended and past retention) need no memory here.
    for (const key of this.written.keys()) if (!present.has(key)) this.written.delete(key);
    if (due.length === 0) return 0;
    try {
      await this.options.storage.insert(
        'addresses',
        due.map((d) => d.row),
      );
    } catch (err) {
      if (!this.failing) {
        this.options.log.warn(
          `cannot write the address map to ClickHouse, will retry every flush: ${firstLine(err)}`,
        );
      }
      this.failing = true;
      return 0;
    }
    if (this.failing) this.options.log.info('address map written to ClickHouse again');
    this.failing = false;
    for (const d of due) this.written.set(d.key, { at: now, ended: d.ended });
    return due.length;
  }
}

function mappingKey(m: SeenMapping): string {
  // One row per mapping and start: the same mapping seen again after it ended is a new row.
  return `${mappingIdentity(m)}|${m.firstSeen}`;
}

function mappingRow(m: SeenMapping, now: number): Row {
  return {
    kind: m.kind,
    range_start: m.address,
    range_end: m.address,
    port: m.port ?? 0,
    protocol: m.protocol ?? '',
    namespace: m.namespace ?? '',
    name: m.name,
    workload: m.workload ? `${m.workload.kind}/${m.workload.name}` : '',
    pod: m.pod ?? '',
    first_seen: time(m.firstSeen),
    // Still held now, as far as the API told us; an ended mapping's last moment is its end.
    last_seen: time(m.ended ?? now),
    ended: m.ended === undefined ? null : time(m.ended),
  };
}

function time(ms: number): string {
  return new Date(ms).toISOString();
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
