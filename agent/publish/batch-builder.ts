// Groups events into ResetBatch messages bounded by count, bytes and age. Each
// event is encoded once, as it arrives; a batch is its header followed by the
// events as repeated field 5, which is how protobuf concatenation works.
import { resetBatchCodec } from '../../proto/index.js';
import type { WireResetEvent } from '../../proto/index.js';
import { EventEncoder } from './event-encoder.js';

export const DEFAULT_BATCH_MAX_EVENTS = 1000;
/** Well under NATS's default max_payload (1 MiB), which the collector also enforces. */
export const DEFAULT_BATCH_MAX_BYTES = 256 * 1024;
/** A lone reset still reaches the store quickly: part of the ≤ 1 s latency budget. */
export const DEFAULT_BATCH_MAX_DELAY_MS = 200;

export interface BatchLimits {
  maxEvents: number;
  maxBytes: number;
  maxDelayMs: number;
}

export interface BatchHeader {
  host: string;
  bootId: string;
  runId: string;
}

export interface EncodedBatch {
  seq: bigint;
  events: number;
  bytes: Buffer;
}

/** What add() returns for most events: no array made per event. */
const NONE: readonly EncodedBatch[] = [];

export class BatchBuilder {
  /** The pending events' entries, back to back; grown, never shrunk (≤ maxBytes + one event). */
  private body = Buffer.allocUnsafe(64 * 1024);
  private size = 0;
  private events = 0;
  private nextSeq = 1n;
  private startedAt = 0;
  private readonly encoder = new EventEncoder();

  constructor(
    private readonly header: BatchHeader,
    private readonly limits: BatchLimits,
  ) {}

  get pendingEvents(): number {
    return this.events;
  }

  /** Adds one event; returns the batches it completed (none, one, or two). */
  add(event: WireResetEvent, now: number): readonly EncodedBatch[] {
    const entry = this.encoder.entry(event);
    let completed: readonly EncodedBatch[] = NONE;
    if (this.events && this.size + entry.length > this.limits.maxBytes) {
      completed = [this.flush()!];
    }
    if (!this.events) this.startedAt = now;
    this.append(entry);
    this.events += 1;
    if (this.events >= this.limits.maxEvents) completed = [...completed, this.flush()!];
    return completed;
  }

  /** The pending batch if it has waited long enough. */
  flushIfDue(now: number): EncodedBatch | undefined {
    if (this.events && now - this.startedAt >= this.limits.maxDelayMs) return this.flush();
    return undefined;
  }

  flush(): EncodedBatch | undefined {
    if (!this.events) return undefined;
    const seq = this.nextSeq++;
    const head = resetBatchCodec.encode({
      host: this.header.host,
      boot_id: this.header.bootId,
      run_id: this.header.runId,
      seq: seq.toString(),
      events: [],
    });
    const bytes = Buffer.concat([head, this.body.subarray(0, this.size)]);
    const batch = { seq, events: this.events, bytes };
    this.events = 0;
    this.size = 0;
    return batch;
  }

  private append(entry: Uint8Array): void {
    if (this.size + entry.length > this.body.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.body.length * 2, this.size + entry.length));
      this.body.copy(grown, 0, 0, this.size);
      this.body = grown;
    }
    this.body.set(entry, this.size);
    this.size += entry.length;
  }
}
