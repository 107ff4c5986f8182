// The agent's JetStream publisher against a real nats-server: batches land once
// under their message ids, and a batch the server can never take is dropped and
// counted instead of blocking the ones behind it.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Outbox } from '../agent/publish/outbox.js';
import { JetStreamPublisher } from '../agent/publish/jetstream-publisher.js';
import { DEFAULT_STREAM_LIMITS, STREAM } from '../proto/nats-topology.js';
import { NatsServer } from './lab/nats-server.js';

let nats: NatsServer;
beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(async () => {
  await nats?.stop();
});

const batch = (seq: number, bytes: number) => ({
  seq: BigInt(seq),
  events: 10,
  bytes: Buffer.alloc(bytes, 1),
});

describe('JetStream publisher', () => {
  it('drops and counts a batch above the server max_payload; the next one is published', async () => {
    const outbox = new Outbox(16 << 20);
    const publisher = new JetStreamPublisher(outbox, {
      servers: [nats.url],
      host: 'pub-host',
      bootId: 'boot',
      runId: '1',
      streamLimits: DEFAULT_STREAM_LIMITS,
      log: pino({ level: 'silent' }),
    });
    outbox.push(batch(1, 2 << 20)); // nats-server's default max_payload is 1 MiB
    outbox.push(batch(2, 1000));
    publisher.start();
    const deadline = Date.now() + 10_000;
    while (outbox.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await publisher.close();
    expect(outbox.length).toBe(0);
    expect(outbox.droppedBatches).toBe(1);
    expect(outbox.droppedEvents).toBe(10);
    expect(publisher.publishedBatches).toBe(1);

    const nc = await connect({ servers: nats.url });
    try {
      const info = await (await jetstreamManager(nc)).streams.info(STREAM);
      expect(info.state.messages).toBe(1);
    } finally {
      await nc.close();
    }
  });
});
