// Resets published the way the agent publishes them, without a kernel: its batch
// builder, its outbox and its JetStream publisher, for one host.
import { pino } from 'pino';
import { BatchBuilder, DEFAULT_BATCH_MAX_BYTES } from '../../agent/publish/batch-builder.js';
import type { EncodedBatch } from '../../agent/publish/batch-builder.js';
import { JetStreamPublisher } from '../../agent/publish/jetstream-publisher.js';
import { Outbox } from '../../agent/publish/outbox.js';
import { batchId, DEFAULT_STREAM_LIMITS } from '../../proto/nats-topology.js';
import type { WireResetEvent } from '../../proto/index.js';

export class BatchPublisher {
  private readonly outbox = new Outbox(256 << 20);
  private readonly builder: BatchBuilder;
  private readonly publisher: JetStreamPublisher;

  constructor(
    servers: string[],
    readonly host: string,
    readonly bootId = 'boot-1',
    readonly runId = '1',
    maxEvents = 1000,
  ) {
    this.builder = new BatchBuilder(
      { host, bootId, runId },
      { maxEvents, maxBytes: DEFAULT_BATCH_MAX_BYTES, maxDelayMs: 200 },
    );
    this.publisher = new JetStreamPublisher(this.outbox, {
      servers,
      host,
      bootId,
      runId,
      streamLimits: DEFAULT_STREAM_LIMITS,
      log: pino({ level: 'silent' }),
    });
    this.publisher.start();
  }

  /**
   * Publishes the events (in as many batches as the builder makes) and waits for
   * JetStream's acks. Returns each event's id as the store computes it.
   */
  async publish(events: WireResetEvent[]): Promise<string[]> {
    const batches: EncodedBatch[] = [];
    for (const event of events) batches.push(...this.builder.add(event, Date.now()));
    const last = this.builder.flush();
    if (last) batches.push(last);
    for (const batch of batches) this.outbox.push(batch);
    const deadline = Date.now() + 10_000;
    while (this.outbox.length) {
      if (Date.now() > deadline) throw new Error(`${this.host}: batches not published in 10 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return batches.flatMap((batch) =>
      Array.from(
        { length: batch.events },
        (_, i) => `${batchId(this.host, this.bootId, this.runId, String(batch.seq))}/${i}`,
      ),
    );
  }

  close(): Promise<void> {
    return this.publisher.close();
  }
}
