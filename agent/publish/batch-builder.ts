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

export class BatchBuilder {
  private parts: Buffer[] = [];
  private size = 0;
  private nextSeq = 1n;
  private startedAt = 0;
  private readonly encoder = new EventEncoder();

  constructor(
    private readonly header: BatchHeader,
    private readonly limits: BatchLimits,
  ) {}

  get pendingEvents(): number {
    return this.parts.length;
  }

  /** Adds one event; returns the batches it completed (none, one, or two). */
  add(event: WireResetEvent, now: number): EncodedBatch[] {
    const entry = this.encoder.entry(event);
    const completed: EncodedBatch[] = [];
    if (this.parts.length && this.size + entry.length > this.limits.maxBytes) {
      completed.push(this.flush()!);
    }
    if (!this.parts.length) this.startedAt = now;
    this.parts.push(entry);
    this.size += entry.length;
    if (this.parts.length >= this.limits.maxEvents) completed.push(this.flush()!);
    return completed;
  }

  /** The pending batch if it has waited long enough. */
  flushIfDue(now: number): EncodedBatch | undefined {
    if (this.parts.length && now - this.startedAt >= this.limits.maxDelayMs) return this.flush();
    return undefined;
  }

  flush(): EncodedBatch | undefined {
    if (!this.parts.length) return undefined;
    const seq = this.nextSeq++;
    const head = resetBatchCodec.encode({
      host: this.header.host,
      boot_id: this.header.bootId,
      run_id: this.header.runId,
      seq: seq.toString(),
      events: [],
    });
    const batch = { seq, events: this.parts.length, bytes: Buffer.concat([head, ...this.parts]) };
    this.parts = [];
    this.size = 0;
    return batch;
  }
}
