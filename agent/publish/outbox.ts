// The batches waiting for JetStream, bounded in bytes. When NATS is away longer than
// the buffer lasts, new batches are dropped and counted (events and batches), so the
// heartbeats say exactly what is missing; the ring-buffer drain never waits.
import type { EncodedBatch } from './batch-builder.js';

/** About 200 000 events at ~300 bytes each: minutes of a busy host while NATS is away. */
export const DEFAULT_OUTBOX_MAX_BYTES = 64 * 1024 * 1024;

export class Outbox {
  private readonly queue: EncodedBatch[] = [];
  private bytes = 0;
  private queuedEvents = 0;
  droppedEvents = 0;
  droppedBatches = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly maxBytes: number) {}

  get length(): number {
    return this.queue.length;
  }

  get events(): number {
    return this.queuedEvents;
  }

  /** False when the batch did not fit and was dropped (and counted). */
  push(batch: EncodedBatch): boolean {
    if (this.bytes + batch.bytes.length > this.maxBytes) {
      this.droppedEvents += batch.events;
      this.droppedBatches += 1;
      return false;
    }
    this.queue.push(batch);
    this.bytes += batch.bytes.length;
    this.queuedEvents += batch.events;
    this.waiters.splice(0).forEach((wake) => wake());
    return true;
  }

  /** The oldest batches, up to n, still in the outbox until removed. */
  peek(n: number): EncodedBatch[] {
    return this.queue.slice(0, n);
  }

  remove(batch: EncodedBatch): void {
    const at = this.queue.indexOf(batch);
    if (at < 0) return;
    this.queue.splice(at, 1);
    this.bytes -= batch.bytes.length;
    this.queuedEvents -= batch.events;
  }

  /** Drops one queued batch the server refused for good, counted as dropped. */
  drop(batch: EncodedBatch): void {
    if (!this.queue.includes(batch)) return;
    this.remove(batch);
    this.droppedEvents += batch.events;
    this.droppedBatches += 1;
  }

  /** Drops everything still queued (the agent is stopping), counted as dropped. */
  discardAll(): void {
    this.droppedEvents += this.queuedEvents;
    this.droppedBatches += this.queue.length;
    this.queue.length = 0;
    this.bytes = 0;
    this.queuedEvents = 0;
  }

  /** Resolves when a batch is pushed (or at once if one is waiting). */
  waitForBatch(): Promise<void> {
    if (this.queue.length) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes anyone waiting, e.g. to let a stopping publisher look again. */
  wake(): void {
    this.waiters.splice(0).forEach((wake) => wake());
  }
}
