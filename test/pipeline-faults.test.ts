// The pipeline under faults: collectors sharing one consumer, a collector killed
// with thousands of events in flight, NATS down while resets happen, and bad
// messages. Every suite checks exactly-once with the kernel's own counters.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetBatchCodec } from '../proto/index.js';
import { DEADLETTER_STREAM, resetsSubject } from '../proto/nats-topology.js';
import { AgentRunner } from './lab/agent-runner.js';
import type { AgentCounters } from './lab/agent-runner.js';
import { CollectorRunner } from './lab/collector-runner.js';
import { freePort } from './lab/free-port.js';
import { Lab } from './lab/lab.js';
import { NatsServer } from './lab/nats-server.js';
import { synStorm } from './lab/scenarios.js';
import { closedPortWireEvent } from './lab/wire-events.js';
import { countRows, queryRows, waitForRows } from './lab/stored-resets.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kernelTotal = (c: AgentCounters) => c.entries.reduce((n, e) => n + e.count, 0);

let lab: Lab;
let nats: NatsServer;
const collectors: CollectorRunner[] = [];

beforeAll(async () => {
  lab = Lab.create();
});

afterAll(async () => {
  for (const c of collectors) await c.dispose();
  await nats?.stop();
  lab?.destroy();
});

async function freshNats(): Promise<void> {
  await nats?.stop();
  nats = await NatsServer.start();
}

async function startCollector(args: string[] = [], dataDir?: string): Promise<CollectorRunner> {
  const c = await CollectorRunner.start(nats.url, { args, dataDir });
  collectors.push(c);
  return c;
}

/** An agent on the lab's server namespace that publishes small, frequent batches. */
function startAgent(extra: string[] = []): Promise<AgentRunner> {
  return AgentRunner.start([
    '--netns',
    lab.server.ns,
    '--nats',
    nats.url,
    '--host',
    'storm-host',
    '--batch-delay-ms',
    '5',
    ...extra,
  ]);
}

/** (batch_id, batch_index) pairs over several stores: all of them, and the distinct ones. */
async function storedKeys(addresses: string[]): Promise<{ all: number; distinct: number }> {
  const keys: string[] = [];
  for (const address of addresses) {
    const rows = await queryRows<{ k: string }>(
      address,
      "SELECT concat(batch_id, '#', toString(batch_index)) AS k FROM resets",
    );
    keys.push(...rows.map((r) => r.k));
  }
  return { all: keys.length, distinct: new Set(keys).size };
}

describe('pipeline faults', () => {
  it('two collectors on one consumer store every event exactly once', async () => {
    await freshNats();
    const a = await startCollector();
    const b = await startCollector();
    const agent = await startAgent();
    await synStorm(lab, 9, 3000, 1000);
    const counters = await agent.stop();
    const total = kernelTotal(counters);
    expect(total).toBe(3000);
    expect(agent.publish).toMatchObject({ published: total, dropped_agent: 0 });

    // Each collector has its own embedded store here; together they hold every event once.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const n = (await countRows(a.queryAddress)) + (await countRows(b.queryAddress));
      if (n >= total) break;
      await sleep(250);
    }
    const keys = await storedKeys([a.queryAddress, b.queryAddress]);
    expect(keys).toEqual({ all: total, distinct: total });
    expect(await countRows(a.queryAddress)).toBeGreaterThan(0);
    expect(await countRows(b.queryAddress)).toBeGreaterThan(0);
    await a.dispose();
    await b.dispose();
  });

  it('a collector killed with -9 mid-stream, restarted: every event stored exactly once', async () => {
    await freshNats();
    // A short ack wait, so what the dead collector pulled comes back within the test.
    const args = ['--ack-wait-ms', '2000'];
    // The first collector holds what it pulls (no insert for a minute): all in flight.
    const first = await startCollector([...args, '--max-insert-delay-ms', '60000']);
    const agent = await startAgent();
    await synStorm(lab, 9, 2000, 500);
    await sleep(1000);
    expect(await countRows(first.queryAddress)).toBe(0);
    await first.kill();
    await synStorm(lab, 9, 2000, 500);
    const counters = await agent.stop();
    const total = kernelTotal(counters);
    expect(total).toBe(4000);
    expect(agent.publish).toMatchObject({ published: total });

    const second = await startCollector(args, first.dataDir);
    expect(await waitForRows(second.queryAddress, total)).toBe(total);
    await sleep(3000); // longer than the ack wait: any redelivery has happened
    expect(await storedKeys([second.queryAddress])).toEqual({ all: total, distinct: total });
    await second.dispose();
  });

  it('NATS down for 10 s while resets happen: every event delivered once it is back', async () => {
    await freshNats();
    const collector = await startCollector();
    const agent = await startAgent();
    await synStorm(lab, 9, 500, 1000);
    await sleep(500);
    await nats.pause();
    await synStorm(lab, 9, 1500, 5000); // ~7.5 s of resets with NATS away
    await sleep(2500);
    await nats.resume();
    await synStorm(lab, 9, 500, 1000);
    await sleep(2000);
    const counters = await agent.stop();
    const total = kernelTotal(counters);
    expect(total).toBe(2500);
    expect(agent.publish).toMatchObject({ published: total, dropped_agent: 0 });
    expect(await waitForRows(collector.queryAddress, total, 60_000)).toBe(total);
    expect(await storedKeys([collector.queryAddress])).toEqual({ all: total, distinct: total });
    await collector.dispose();
  });

  it('with a publish buffer too small on purpose, the exact loss is in counters and heartbeats', async () => {
    await freshNats();
    const collector = await startCollector();
    const agent = await startAgent(['--buffer-kb', '8']);
    await sleep(500);
    await nats.pause();
    await synStorm(lab, 9, 1000, 1000);
    await sleep(500);
    await nats.resume();
    await sleep(3000); // reconnect and drain what the buffer kept
    const counters = await agent.stop();
    const total = kernelTotal(counters);
    const publish = agent.publish!;
    expect(total).toBe(1000);
    expect(publish.dropped_agent).toBeGreaterThan(0);
    expect(publish.published + publish.dropped_agent).toBe(total);
    expect(await waitForRows(collector.queryAddress, publish.published)).toBe(publish.published);
    await sleep(1500);
    expect(await countRows(collector.queryAddress)).toBe(publish.published);
    // The last heartbeat (sent at stop) says the same.
    const [heartbeat] = await queryRows<{ dropped_agent: string; published: string; seen: string }>(
      collector.queryAddress,
      "SELECT dropped_agent, published, seen FROM agents WHERE host = 'storm-host' ORDER BY ts DESC LIMIT 1",
    );
    expect(heartbeat).toEqual({
      dropped_agent: String(publish.dropped_agent),
      published: String(publish.published),
      seen: String(total),
    });
    await collector.dispose();
  });

  it('NATS never reachable: the agent still stops at once and counts every event as dropped', async () => {
    const agent = await AgentRunner.start([
      '--netns',
      lab.server.ns,
      '--nats',
      `nats://127.0.0.1:${await freePort()}`,
    ]);
    await synStorm(lab, 9, 200, 1000);
    const stopping = Date.now();
    const counters = await agent.stop();
    expect(Date.now() - stopping).toBeLessThan(12_000);
    expect(kernelTotal(counters)).toBe(200);
    expect(agent.publish).toMatchObject({ published: 0, dropped_agent: 200 });
  });

  it('garbage, an oversize batch and a host that disagrees with its subject are dead-lettered; the stream goes on', async () => {
    await freshNats();
    const collector = await startCollector(['--max-message-bytes', '65536']);
    const nc = await connect({ servers: nats.url });
    try {
      const js = jetstream(nc);
      const event = closedPortWireEvent({ ts_unix_ns: '1795294453443000000' });
      const batch = (host: string, seq: number, events: ReturnType<typeof closedPortWireEvent>[]) =>
        resetBatchCodec.encode({ host, boot_id: 'b', run_id: '1', seq: String(seq), events });
      await js.publish(resetsSubject('h1'), Buffer.from('this is not protobuf \x07\xff'));
      await js.publish(resetsSubject('h1'), batch('h1', 1, Array(2000).fill(event)));
      await js.publish(resetsSubject('h1'), batch('evil', 2, [event]));
      await js.publish(resetsSubject('h1'), batch('h1', 3, [event, { ...event, local_port: 10 }]));

      expect(await waitForRows(collector.queryAddress, 2)).toBe(2);
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(DEADLETTER_STREAM);
      expect(info.state.messages).toBe(3);
      const kinds: string[] = [];
      for (let seq = 1; seq <= 3; seq++) {
        const m = await jsm.streams.getMessage(DEADLETTER_STREAM, { seq });
        kinds.push(m!.header.get('Rstscope-Refusal'));
      }
      expect(kinds.sort()).toEqual(['host_mismatch', 'oversize', 'undecodable']);
      // Counted and logged once per kind.
      for (const kind of kinds) {
        expect(collector.stderr.split(`refused a message (${kind}`).length - 1).toBe(1);
      }
    } finally {
      await nc.close();
      await collector.dispose();
    }
  });
});
