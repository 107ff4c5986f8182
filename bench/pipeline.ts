// The pipeline after capture: agent publishing → NATS JetStream → collector →
// embedded ClickHouse, on this machine.
//  1. Throughput: the agent's own publishing code (batches, outbox, JetStream
//     publisher) fed with N synthetic resets as fast as it takes them; events/s
//     until all N rows are queryable; the collector's inserts and rows per insert.
//  2. Drain: the same N resets published first, then one collector empties the
//     stream — the collector's own rate, as on a fleet where agents run elsewhere.
//  3. Latency at 1k events/s from the real kernel: a SYN storm to a closed port in
//     the lab, the agent publishing; per row, inserted_at − ts (the kernel event
//     to queryable), p50 and p99.
// Median of --runs runs.
//
//   node dist/bench/pipeline.js [--events 200000] [--runs 3] [--seconds 30]
import { cpus, loadavg, release } from 'node:os';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { AgentPublishing } from '../agent/publish/agent-publishing.js';
import { DEFAULT_STREAM_LIMITS } from '../proto/nats-topology.js';
import type { WireResetEvent } from '../proto/index.js';
import { AgentRunner } from '../test/lab/agent-runner.js';
import { CollectorRunner } from '../test/lab/collector-runner.js';
import { Lab } from '../test/lab/lab.js';
import { NatsServer } from '../test/lab/nats-server.js';
import { synStorm } from '../test/lab/scenarios.js';
import { queryRows, waitForRows } from '../test/lab/stored-resets.js';
import { cpuSeconds } from './proc-stats.js';
import { median } from './median.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '30' },
  },
});
const EVENTS = Number(values.events);
const RUNS = Number(values.runs);
const SECONDS = Number(values.seconds);
const log = pino({ level: 'warn' }, pino.destination(2));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function syntheticEvent(i: number, nowNs: bigint): WireResetEvent {
  return {
    ts_unix_ns: String(nowNs + BigInt(i)),
    direction: i % 2 ? 'received' : 'sent',
    reason: i % 2 ? 'UNKNOWN' : 'NO_SOCKET',
    accepted: true,
    state: 'ESTABLISHED',
    prev_state: 'ESTABLISHED',
    family: 'ipv4',
    local_addr: '10.2.0.2',
    local_port: 8080,
    remote_addr: `10.1.${(i >> 8) & 255}.${i & 255}`,
    remote_port: 1024 + (i % 60000),
    netns: 4026531833,
    sock_cookie: String(1000 + i),
    cgroup_id: '1',
    pid: 1234,
    tid: 1234,
    comm: 'server',
    pid_source: 'context',
    bytes_acked: '1000',
    bytes_received: '2000',
    segs_in: 10,
    segs_out: 12,
    total_retrans: 0,
    srtt_us: 250,
    snd_una: 1001,
    snd_nxt: 1001,
    rcv_nxt: 2001,
    isn_local: 1,
    isn_remote: 1,
    isn_exact: true,
    unread_bytes: 0,
    unsent_bytes: 0,
    linger_on: false,
    linger_s: 0,
    last_sent_ms: 30000,
    last_recv_ms: 30000,
    // As the agent in a pod would send it: a pod on this node.
    pod_uid: '3f1c2a7e-9b4d-4e21-8c55-0a9d6b7e1f23',
    pod_name: 'payments-7d9f8b6c5d-x2x7q',
    pod_namespace: 'shop',
    container_name: 'server',
    container_id: '9f'.repeat(32),
    workload: 'Deployment/payments',
    pod_labels: { app: 'payments', 'pod-template-hash': '7d9f8b6c5d' },
    pod_source: 'cgroup',
    ...(i % 3 ? { survived_idle_ms: 15000 } : {}),
    conn_age_ms: 60000,
    // Received resets carry the RST's packet evidence; unknown fields stay unset.
    ...(i % 2
      ? { rst_ttl: 63, rst_ip_id: 0, rst_seq: 2001, rst_ack: 1001, rst_window: 0, peer_ttl: 63 }
      : {}),
  };
}

interface Throughput {
  eventsPerS: number;
  inserts: number;
  rowsPerInsert: number;
  collectorCpuS: number;
  publisherCpuS: number;
  natsCpuS: number;
}

function newPublishing(natsUrl: string): AgentPublishing {
  return new AgentPublishing({
    servers: [natsUrl],
    identity: {
      host: 'bench-host',
      bootId: 'bench-boot',
      runId: String(Date.now()),
      agentVersion: 'bench',
      kernelRelease: release(),
      startedAtNs: BigInt(Date.now()) * 1_000_000n,
    },
    coverage: { netns: [], all: true },
    batch: { maxEvents: 1000, maxBytes: 256 * 1024, maxDelayMs: 200 },
    outboxMaxBytes: 1024 * 1024 * 1024,
    streamLimits: DEFAULT_STREAM_LIMITS,
    log,
  });
}

/** Feeds EVENTS synthetic resets to the agent's publishing code, as its loop would. */
async function feed(publishing: AgentPublishing): Promise<void> {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  for (let at = 0; at < EVENTS; at += 1000) {
    const chunk = [];
    for (let i = at; i < Math.min(EVENTS, at + 1000); i++) chunk.push(syntheticEvent(i, nowNs));
    publishing.accept(chunk);
    if (at % 20_000 === 0) await sleep(0); // let the publisher run
  }
}

async function waitForAllRows(collector: CollectorRunner, expected = EVENTS): Promise<void> {
  const stored = await waitForRows(collector.queryAddress, expected, 600_000);
  if (stored < expected) throw new Error(`only ${stored} of ${expected} rows`);
}

function insertCounters(collector: CollectorRunner): { inserts: number; rows: number } {
  return JSON.parse(collector.stderr.split('\n').find((l) => l.includes('collector stopped'))!) as {
    inserts: number;
    rows: number;
  };
}

/** Agent publishing and collector at once, as on a one-host install. */
async function throughputRun(): Promise<Throughput> {
  const nats = await NatsServer.start();
  const collector = await CollectorRunner.start(nats.url, {
    args: ['--max-insert-delay-ms', '1000'],
  });
  try {
    const publishing = newPublishing(nats.url);
    publishing.start();
    const cpu0 = cpuSeconds([collector.child.pid!]);
    const nats0 = cpuSeconds([nats.pid]);
    const own0 = process.cpuUsage();
    const started = Date.now();
    await feed(publishing);
    await waitForAllRows(collector);
    const seconds = (Date.now() - started) / 1000;
    const cpu = cpuSeconds([collector.child.pid!]) - cpu0;
    const natsCpu = cpuSeconds([nats.pid]) - nats0;
    const own = process.cpuUsage(own0);
    await publishing.stop();
    await collector.stop();
    const counters = insertCounters(collector);
    return {
      eventsPerS: EVENTS / seconds,
      inserts: counters.inserts,
      rowsPerInsert: counters.rows / counters.inserts,
      collectorCpuS: cpu,
      publisherCpuS: (own.user + own.system) / 1e6,
      natsCpuS: natsCpu,
    };
  } finally {
    await collector.dispose();
    await nats.stop();
  }
}

/**
 * The collector alone, as on a fleet where agents run elsewhere: the stream is
 * filled first, then one collector drains it into chDB.
 */
async function drainRun(): Promise<{ eventsPerS: number; rowsPerInsert: number; cpuS: number }> {
  const nats = await NatsServer.start();
  try {
    const publishing = newPublishing(nats.url);
    publishing.start();
    await feed(publishing);
    while (publishing.totals().published < EVENTS) await sleep(100);
    await publishing.stop();
    const collector = await CollectorRunner.start(nats.url, {
      args: ['--max-insert-delay-ms', '1000'],
    });
    try {
      const started = Date.now();
      const cpu0 = cpuSeconds([collector.child.pid!]);
      await waitForAllRows(collector);
      const seconds = (Date.now() - started) / 1000;
      const cpu = cpuSeconds([collector.child.pid!]) - cpu0;
      await collector.stop();
      const counters = insertCounters(collector);
      return {
        eventsPerS: EVENTS / seconds,
        rowsPerInsert: counters.rows / counters.inserts,
        cpuS: cpu,
      };
    } finally {
      await collector.dispose();
    }
  } finally {
    await nats.stop();
  }
}

async function latencyRun(lab: Lab): Promise<{ p50: number; p99: number; rows: number }> {
  const nats = await NatsServer.start();
  const collector = await CollectorRunner.start(nats.url, {
    args: ['--max-insert-delay-ms', '1000'],
  });
  try {
    const agent = await AgentRunner.start([
      '--netns',
      lab.server.ns,
      '--nats',
      nats.url,
      '--host',
      'latency-host',
    ]);
    await synStorm(lab, 9, SECONDS * 1000, 1000);
    const counters = await agent.stop();
    const total = counters.entries.reduce((n, e) => n + e.count, 0);
    await waitForAllRows(collector, total);
    const [q] = await queryRows<{ p50: number; p99: number; n: string }>(
      collector.queryAddress,
      `SELECT quantile(0.5)(ms) AS p50, quantile(0.99)(ms) AS p99, count() AS n
       FROM (SELECT dateDiff('millisecond', ts, inserted_at) AS ms FROM resets)`,
    );
    return { p50: q!.p50, p99: q!.p99, rows: Number(q!.n) };
  } finally {
    await collector.dispose();
    await nats.stop();
  }
}

const loadBefore = loadavg()[0]!;
const throughput: Throughput[] = [];
for (let r = 0; r < RUNS; r++) throughput.push(await throughputRun());
const drain = [];
for (let r = 0; r < RUNS; r++) drain.push(await drainRun());
const lab = Lab.create();
const latency = [];
try {
  for (let r = 0; r < RUNS; r++) latency.push(await latencyRun(lab));
} finally {
  lab.destroy();
}

console.log(
  `pipeline benchmark — kernel ${release()}, ${cpus().length} cores, node ${process.version}, median of ${RUNS} runs`,
);
// Other work on the machine slows every figure here: say how much there was.
console.log(
  `  load average (1 min)         ${loadBefore.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end`,
);
console.log(
  `throughput: ${EVENTS} synthetic resets through the agent's publisher → NATS → collector → chDB`,
);
console.log(
  `  events/s to queryable rows   ${median(throughput.map((t) => t.eventsPerS)).toFixed(0)}`,
);
console.log(`  inserts                      ${median(throughput.map((t) => t.inserts))}`);
console.log(
  `  rows per insert              ${median(throughput.map((t) => t.rowsPerInsert)).toFixed(0)}`,
);
console.log(
  `  collector CPU seconds        ${median(throughput.map((t) => t.collectorCpuS)).toFixed(1)}`,
);
console.log(
  `  publisher CPU seconds        ${median(throughput.map((t) => t.publisherCpuS)).toFixed(1)}` +
    '  (this process: synthetic events, the agent’s batching and publishing)',
);
console.log(
  `  nats-server CPU seconds      ${median(throughput.map((t) => t.natsCpuS)).toFixed(1)}`,
);
console.log(`drain: one collector empties a stream holding ${EVENTS} resets into chDB`);
console.log(`  events/s                     ${median(drain.map((d) => d.eventsPerS)).toFixed(0)}`);
console.log(
  `  rows per insert              ${median(drain.map((d) => d.rowsPerInsert)).toFixed(0)}`,
);
console.log(`  collector CPU seconds        ${median(drain.map((d) => d.cpuS)).toFixed(1)}`);
// Steadier than events/s on a busy machine: what one event costs the collector.
console.log(
  `  collector CPU µs per event   ${median(drain.map((d) => (d.cpuS * 1e6) / EVENTS)).toFixed(1)}`,
);
console.log(
  `latency: real resets at 1k/s for ${SECONDS} s (lab SYN storm), kernel event → inserted row`,
);
console.log(`  rows                         ${median(latency.map((l) => l.rows))}`);
console.log(`  p50 ms                       ${median(latency.map((l) => l.p50)).toFixed(0)}`);
console.log(`  p99 ms                       ${median(latency.map((l) => l.p99)).toFixed(0)}`);
