// The fleet pipeline end to end on one machine: a real kernel in lab namespaces,
// the agent publishing to a real nats-server, the collector storing in embedded
// ClickHouse, and the rows read back through the collector's query service.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResetEvent } from '../agent/reset-event.js';
import { RESETS } from '../collector/storage/tables.js';
import { AgentRunner } from './lab/agent-runner.js';
import { CollectorRunner } from './lab/collector-runner.js';
import { Lab } from './lab/lab.js';
import { NatsServer } from './lab/nats-server.js';
import { provokeEveryKindOfReset } from './lab/scenarios.js';
import { asAgentRecord, queryRows, waitForRows } from './lab/stored-resets.js';

let lab: Lab;
let nats: NatsServer;
let collector: CollectorRunner;

beforeAll(async () => {
  lab = Lab.create();
  nats = await NatsServer.start();
  collector = await CollectorRunner.start(nats.url);
});

afterAll(async () => {
  await collector?.dispose();
  await nats?.stop();
  lab?.destroy();
});

// Outside Kubernetes the agent names no pod (its record leaves the pod fields
// out) and this collector (no --kube, no --inventory) names no end: those
// columns must be empty, and are left out of the comparison.
const KUBERNETES_COLUMNS = RESETS.columns.filter((c) => c.since === 4).map((c) => c.name);
function withoutKubernetes(row: Record<string, unknown>): Record<string, unknown> {
  const rest = { ...row };
  for (const name of KUBERNETES_COLUMNS) {
    expect(rest[name], name).toSatisfy(
      (v: unknown) => v === '' || (typeof v === 'object' && Object.keys(v ?? {}).length === 0),
    );
    delete rest[name];
  }
  return rest;
}

const key = (e: ResetEvent) => `${e.ts} ${e.netns} ${e.direction} ${e.local_port} ${e.remote_port}`;

describe('agent → NATS JetStream → collector → ClickHouse', () => {
  it('stores every reset of the lab scenarios exactly as the agent recorded it', async () => {
    const agent = await AgentRunner.start([
      ...lab.namespaces().flatMap((ns) => ['--netns', ns]),
      '--nats',
      nats.url,
      '--host',
      'lab-host',
    ]);
    let counters;
    try {
      await provokeEveryKindOfReset(lab, 8100);
    } finally {
      counters = await agent.stop();
    }
    const records = agent.events.items;
    expect(records.length).toBe(counters.delivered);
    expect(agent.publish).toMatchObject({ published: records.length, dropped_agent: 0 });
    // Every kind of record made it: sent and received, with and without packet evidence.
    expect(new Set(records.map((e) => `${e.direction}/${e.family}`)).size).toBe(4);
    expect(records.some((e) => e.direction === 'received' && !e.accepted)).toBe(true);
    expect(records.some((e) => e.rst_ttl !== null && e.trigger_flags === null)).toBe(true);

    expect(await waitForRows(collector.queryAddress, records.length)).toBe(records.length);
    const rows = (await queryRows(collector.queryAddress, 'SELECT * FROM resets')).map(
      withoutKubernetes,
    );
    const stored = new Map(rows.map((r) => [key(asAgentRecord(r)), asAgentRecord(r)]));
    expect(stored.size).toBe(records.length);
    for (const record of records) expect(stored.get(key(record))).toEqual(record);
  });

  it('stores the heartbeats: coverage and counters that match the agent', async () => {
    const rows = await queryRows<Record<string, unknown>>(
      collector.queryAddress,
      "SELECT * FROM agents WHERE host = 'lab-host' ORDER BY ts DESC LIMIT 1",
    );
    expect(rows).toHaveLength(1);
    const last = rows[0]!;
    const expected = await queryRows<{ n: string }>(
      collector.queryAddress,
      "SELECT count() AS n FROM resets WHERE host = 'lab-host'",
    );
    expect(last).toMatchObject({
      all_netns: false,
      published: expected[0]!.n,
      decoded: expected[0]!.n,
      seen: expected[0]!.n,
      dropped_agent: '0',
      lost_kernel: '0',
    });
    expect(last.netns_names).toEqual(expect.arrayContaining(lab.namespaces()));
    // The lab hosts' addresses, v4-mapped as the IPv6 column stores them.
    expect(last.addresses).toEqual(
      expect.arrayContaining([
        `::ffff:${lab.client.ipv4}`,
        `::ffff:${lab.server.ipv4}`,
        lab.server.ipv6,
      ]),
    );
  });
});
