// Drains the outbox into JetStream: a few publishes in flight, each with the batch's
// deterministic Nats-Msg-Id, so a retry after a lost ack is dropped by the stream as
// a duplicate. Failures back off and retry the same batch; nothing here ever blocks
// the code that fills the outbox.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamClient } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { ensureStream, resetsStreamConfig } from '../../proto/nats-streams.js';
import { batchId, resetsSubject } from '../../proto/nats-topology.js';
import type { StreamLimits } from '../../proto/nats-topology.js';
import type { EncodedBatch } from './batch-builder.js';
import type { Outbox } from './outbox.js';
import { Backoff } from './backoff.js';

/** Publishes awaiting their ack at once: enough to hide the round trip. */
const IN_FLIGHT = 8;
const PUBLISH_TIMEOUT_MS = 5_000;
/** Errors no retry can fix: the message is too big for the server or the stream. */
const PERMANENT_REFUSAL = /max_payload size exceeded|message size exceeds maximum/i;

export interface PublisherOptions {
  servers: string[];
  host: string;
  bootId: string;
  runId: string;
  streamLimits: StreamLimits;
  log: Logger;
  /** Called each time the stream is (again) known to exist. */
  onStreamReady?: () => void;
}

export class JetStreamPublisher {
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private streamReady = false;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private readonly backoff = new Backoff(250, 10_000);
  private lastFailure = '';
  publishedEvents = 0;
  publishedBatches = 0;

  constructor(
    private readonly outbox: Outbox,
    private readonly options: PublisherOptions,
  ) {}

  /** Connects (retrying for ever in the background) and starts draining. */
  start(): void {
    this.loop = this.run();
  }

  /** The JetStream client once the stream exists, for heartbeats. */
  get client(): JetStreamClient | undefined {
    return this.streamReady ? this.js : undefined;
  }

  /** Waits until the outbox is empty or the deadline passed. */
  async drain(deadlineMs: number): Promise<void> {
    const until = Date.now() + deadlineMs;
    while (this.outbox.length && this.nc && !this.nc.isClosed() && Date.now() < until) {
      await sleep(50);
    }
  }

  /**
   * Stops the publish loop and waits for it (no publish is in flight afterwards);
   * the connection stays open for a last heartbeat, the outbox keeps what is left.
   */
  async stopPublishing(): Promise<void> {
    this.stopping = true;
    this.outbox.wake();
    this.wakeUp?.();
    await this.loop;
  }

  async close(): Promise<void> {
    await this.stopPublishing();
    await this.nc?.close().catch(() => {});
  }

  private async run(): Promise<void> {
    const { log, servers } = this.options;
    // Our own retry around the first connect (not waitOnFirstConnect), so that a
    // stop while NATS has never been reachable ends the loop instead of hanging.
    while (!this.stopping && !this.nc) {
      try {
        this.nc = await connect({
          servers,
          name: `rstscope-agent ${this.options.host}`,
          // Once connected, keep reconnecting for ever: the outbox holds the data.
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1_000,
        });
      } catch (error) {
        this.noteFailure(error);
        await this.pause(this.backoff.next());
      }
    }
    if (!this.nc) return;
    this.backoff.reset();
    log.info({ server: this.nc.getServer() }, 'connected to NATS');
    this.js = jetstream(this.nc, { timeout: PUBLISH_TIMEOUT_MS });
    void this.watchStatus(this.nc);

    while (!this.stopping) {
      // The stream first (heartbeats need it too), then whatever is waiting.
      if (!(await this.ensureStream())) continue;
      await this.outbox.waitForBatch();
      if (this.stopping) break;
      const batches = this.outbox.peek(IN_FLIGHT);
      const results = await Promise.all(batches.map((b) => this.publish(b)));
      if (results.every(Boolean)) this.backoff.reset();
      else await this.pause(this.backoff.next());
    }
  }

  /** A backoff wait that stopPublishing() cuts short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async ensureStream(): Promise<boolean> {
    if (this.streamReady) return true;
    try {
      const jsm = await jetstreamManager(this.nc!, { timeout: PUBLISH_TIMEOUT_MS });
      if (await ensureStream(jsm, resetsStreamConfig(this.options.streamLimits))) {
        this.options.log.info('created the RSTSCOPE stream');
      }
      this.streamReady = true;
      this.options.onStreamReady?.();
      return true;
    } catch (error) {
      this.noteFailure(error);
      await this.pause(this.backoff.next());
      return false;
    }
  }

  private async publish(batch: EncodedBatch): Promise<boolean> {
    const { host, bootId, runId } = this.options;
    try {
      await this.js!.publish(resetsSubject(host), batch.bytes, {
        msgID: batchId(host, bootId, runId, batch.seq.toString()),
        timeout: PUBLISH_TIMEOUT_MS,
      });
      // A duplicate ack means an earlier try was stored: published all the same.
      this.outbox.remove(batch);
      this.publishedEvents += batch.events;
      this.publishedBatches += 1;
      if (this.lastFailure) {
        this.options.log.info('publishing again');
        this.lastFailure = '';
      }
      return true;
    } catch (error) {
      this.noteFailure(error);
      // A batch the server will never take (larger than its max_payload or the
      // stream's max_msg_size) would block the outbox for ever: drop it, counted.
      if (PERMANENT_REFUSAL.test(String(error))) {
        this.outbox.drop(batch);
        return true;
      }
      // The stream may have been deleted under us: look again before the next try.
      if (/stream not found|no responders/i.test(String(error))) this.streamReady = false;
      return false;
    }
  }

  /** Logs a failure once per kind, not once per retry. */
  private noteFailure(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (message === this.lastFailure) return;
    this.lastFailure = message;
    this.options.log.warn(
      { buffered_events: this.outbox.events },
      `publishing to JetStream failed, retrying with backoff: ${message}`,
    );
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect') {
        this.options.log.info({ server: status.server }, `NATS ${status.type}`);
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
