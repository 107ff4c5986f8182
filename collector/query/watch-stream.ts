// One WatchResets call's way out: a bounded queue in front of the gRPC stream.
// It writes while the stream takes more, waits for 'drain' when it does not, and
// when its queue is full it drops the newest and tells the client how many in the
// next message's `skipped`. It never blocks its caller, which is the feed every
// other watcher shares.
import type { status as GrpcStatus } from '@grpc/grpc-js';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Reset, WatchResetsRequest, WatchResetsResponse } from '../../proto/index.js';

/**
 * Resets held for a client that reads slowly, beyond what HTTP/2 flow control
 * already buffers. The feed hands over a whole batch (up to 1000 resets) at once
 * and NATS may deliver a few back to back before the stream drains, so a reader
 * that keeps up must not lose any: four batches, a few MiB at most per watcher.
 */
export const DEFAULT_WATCH_QUEUE_RESETS = 4_096;

export type WatchCall = ServerWritableStream<WatchResetsRequest, WatchResetsResponse>;

export class WatchStream {
  /** Resets written to the stream. */
  written = 0;
  /** Resets dropped because the queue was full, over the whole call. */
  skipped = 0;
  private readonly queue: WatchResetsResponse[] = [];
  private skippedSinceLast = 0;
  private waitingForDrain = false;
  private finished = false;

  constructor(
    private readonly call: WatchCall,
    private readonly capacity = DEFAULT_WATCH_QUEUE_RESETS,
  ) {
    call.on('drain', () => {
      this.waitingForDrain = false;
      this.flush();
    });
  }

  get done(): boolean {
    return this.finished;
  }

  push(reset: Reset): void {
    if (this.finished) return;
    if (this.queue.length >= this.capacity) {
      this.skippedSinceLast += 1;
      this.skipped += 1;
      return;
    }
    this.queue.push({ reset, skipped: String(this.skippedSinceLast) });
    this.skippedSinceLast = 0;
    this.flush();
  }

  /** Ends the call with a status; what is still queued is not sent. */
  fail(code: GrpcStatus, details: string): void {
    if (this.finished) return;
    this.stop();
    // grpc-js turns an 'error' on a server stream into the call's status.
    this.call.emit('error', { code, details });
  }

  /** The client went away: nothing more is written. */
  stop(): void {
    this.finished = true;
    this.queue.length = 0;
  }

  private flush(): void {
    while (!this.waitingForDrain && !this.finished && this.queue.length) {
      const next = this.queue.shift()!;
      this.written += 1;
      if (!this.call.write(next)) this.waitingForDrain = true;
    }
  }
}
