// One run of the sustained bench: a fresh nats-server and collector (embedded
// chDB), the agent as in production on the lab server, a paced closed-port SYN
// storm, then every count of the same resets side by side: the kernel's (nstat,
// the agent's counters), the agent's (published, dropped) and the store's (rows,
// storm aggregates, the last heartbeat).
import { QueryClient } from '../cli/query-client.js';
import { CollectorRunner } from '../test/lab/collector-runner.js';
import type { Lab } from '../test/lab/lab.js';
import { NatsServer } from '../test/lab/nats-server.js';
import { pacedSynStorm, tcpOutRsts } from './paced-storm.js';
import { cpuSeconds, peakRssMiB, processTree } from './proc-stats.js';
import { ProductionAgent } from './production-agent.js';
import type { KernelCount } from './production-agent.js';

const CLOSED_PORT = 9;
/** As the capture bench: the agent's CPU over the storm and 1 s after it. */
const DRAIN_MS = 1_000;
/** Rows that stop growing for this long will not come (a lost batch, not a slow one). */
const STALL_MS = 20_000;
/**
 * The query service's longest SQL timeout. Its default (30 s) is too short here: on
 * embedded chDB the collector's diagnoser takes its first pass over the storm's
 * resets once they settle (60 s), and a query waits behind it.
 */
const QUERY_TIMEOUT_MS = 300_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function queryRows<T>(address: string, sql: string, host: string): Promise<T[]> {
  const client = new QueryClient(address);
  try {
    const response = await client.sql({
      sql,
      params: { host },
      max_rows: 1000,
      timeout_ms: QUERY_TIMEOUT_MS,
    });
    return response.rows.map((r) => JSON.parse(r) as T);
  } finally {
    client.close();
  }
}

export interface BacklogPoint {
  /** Seconds since the storm began. */
  atS: number;
  emitted: number;
  stored: number;
  /** How long the count took: a collector busy with something else answers late. */
  queryMs: number;
}

/** Between backlog samples: a 60 s storm gets a dozen, a cheap count each. */
const BACKLOG_EVERY_MS = 5_000;

export interface SustainedSample {
  /** Packets hping3 sent, and over how long. */
  sent: number;
  stormS: number;
  /** Parallel hping3s, and the interval each of their runs used (µs). */
  streams: number;
  intervalsUs: number[];
  /** Every few seconds from the storm's start: emitted so far, stored so far. */
  backlog: BacklogPoint[];
  /** Resets the server's kernel sent (TcpOutRsts over the storm). */
  emitted: number;
  /** The agent's exact kernel counters, summed; and per reason. */
  kernelSeen: number;
  kernel: KernelCount[];
  decoded: number;
  aggregated: number;
  lostInKernel: number;
  published: number;
  droppedInAgent: number;
  /** Rows in `resets` for this run's host, and how many distinct events they hold. */
  rows: number;
  distinctRows: number;
  /** Per direction and reason, as the kernel's counters are. */
  storedByReason: { direction: string; reason: string; rows: number }[];
  /** Resets in `reset_aggregates` (FINAL) for this host. */
  aggregatedStored: number;
  /** The last heartbeat stored (its counters are the run's totals), if any came. */
  heartbeat: { seen: number; decoded: number; aggregated: number; lostKernel: number } | undefined;
  /** emitted − rows − aggregatedStored. */
  lost: number;
  agentCpuS: number;
  agentCores: number;
  agentRssMiB: number;
  collectorCpuS: number;
  collectorCores: number;
  /** The last reset's kernel time → the last row's insert time (both from the store). */
  lastResetToLastRowMs: number;
  /** The storm's end → this bench counting every emitted reset as a row (polled every 250 ms). */
  caughtUpMs: number | null;
  /** The collector's own counters at its stop: refused (dead-lettered) messages, failures. */
  collector: { rows: number; inserts: number; duplicateRows: number; insertFailures: number };
  deadLettered: number;
}

async function one<T>(address: string, sql: string, host: string): Promise<T> {
  const [row] = await queryRows<T>(address, sql, host);
  return row!;
}

function storedCount(address: string, host: string): Promise<number> {
  return one<{ n: string }>(
    address,
    'SELECT count() AS n FROM resets WHERE host = {host:String}',
    host,
  ).then((r) => Number(r.n));
}

/** Polls until `want` rows are stored or they stop coming; returns the last count. */
async function rowsReaching(address: string, host: string, want: number): Promise<number> {
  let n = await storedCount(address, host);
  let grewAt = Date.now();
  while (n < want && Date.now() - grewAt < STALL_MS) {
    await sleep(250);
    const next = await storedCount(address, host);
    if (next > n) grewAt = Date.now();
    n = next;
  }
  return n;
}

/** Samples the backlog until stop(): where, if anywhere, the pipeline falls behind. */
function sampleBacklog(
  lab: Lab,
  address: string,
  host: string,
  rst0: number,
): { stop(): Promise<BacklogPoint[]> } {
  const points: BacklogPoint[] = [];
  const started = Date.now();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await sleep(BACKLOG_EVERY_MS);
      if (stopped) break;
      const emitted = tcpOutRsts(lab) - rst0;
      const t0 = Date.now();
      try {
        const stored = await storedCount(address, host);
        points.push({ atS: (t0 - started) / 1000, emitted, stored, queryMs: Date.now() - t0 });
      } catch (err) {
        // A collector that does not answer is a finding, not a reason to leave its processes behind.
        points.push({ atS: (t0 - started) / 1000, emitted, stored: -1, queryMs: Date.now() - t0 });
        process.stderr.write(`sustained: counting stored rows failed: ${(err as Error).message}\n`);
        break;
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return points;
    },
  };
}

async function lastHeartbeat(
  address: string,
  host: string,
  published: number,
): Promise<SustainedSample['heartbeat']> {
  const sql = `SELECT count() AS n, argMax(seen, ts) AS seen, argMax(decoded, ts) AS decoded,
    argMax(aggregated, ts) AS aggregated, argMax(lost_kernel, ts) AS lost,
    argMax(published, ts) AS published
    FROM agents WHERE host = {host:String}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const hb = await one<Record<string, string>>(address, sql, host);
    // The agent's last heartbeat, sent at its stop, carries its final published count.
    if (Number(hb.published) >= published || Date.now() > deadline) {
      if (Number(hb.n) === 0) return undefined;
      return {
        seen: Number(hb.seen),
        decoded: Number(hb.decoded),
        aggregated: Number(hb.aggregated),
        lostKernel: Number(hb.lost),
      };
    }
    await sleep(250);
  }
}

function collectorCounters(stderr: string): SustainedSample['collector'] & { dead: number } {
  const line = stderr.split('\n').find((l) => l.includes('collector stopped'));
  if (!line) return { rows: 0, inserts: 0, duplicateRows: 0, insertFailures: 0, dead: 0 };
  const c = JSON.parse(line) as SustainedSample['collector'] & {
    refused?: Record<string, number>;
  };
  const dead = Object.values(c.refused ?? {}).reduce((n, x) => n + x, 0);
  return {
    rows: c.rows,
    inserts: c.inserts,
    duplicateRows: c.duplicateRows,
    insertFailures: c.insertFailures,
    dead,
  };
}

export async function sustainedRun(
  lab: Lab,
  options: { rate: number; seconds: number; host: string },
): Promise<SustainedSample> {
  const { host } = options;
  const nats = await NatsServer.start();
  let collector: CollectorRunner | undefined;
  let agent: ProductionAgent | undefined;
  try {
    collector = await CollectorRunner.start(nats.url, {
      // The collector's own default (the runner's is shorter, for tests).
      args: ['--max-insert-delay-ms', '1000'],
    });
    agent = await ProductionAgent.start(lab, nats.url, host);
    const address = collector.queryAddress;
    let agentPids = processTree(agent.pid);
    const collectorPids = processTree(collector.child.pid!);
    const agentCpu0 = cpuSeconds(agentPids);
    const collectorCpu0 = cpuSeconds(collectorPids);
    const rst0 = tcpOutRsts(lab);
    const sampler = sampleBacklog(lab, address, host, rst0);
    const storm = await pacedSynStorm(lab, { ...options, port: CLOSED_PORT });
    const stormEnd = Date.now();
    const emitted = tcpOutRsts(lab) - rst0;
    await sleep(DRAIN_MS);
    agentPids = [...new Set([...agentPids, ...processTree(agent.pid)])];
    const agentCpuS = cpuSeconds(agentPids) - agentCpu0;
    const agentRssMiB = peakRssMiB(agentPids);

    const caught = await rowsReaching(address, host, emitted);
    const caughtUpMs = caught >= emitted ? Date.now() - stormEnd : null;
    const backlog = await sampler.stop();
    const collectorCpuS = cpuSeconds(collectorPids) - collectorCpu0;
    const collectorS = storm.elapsedMs / 1000 + (Date.now() - stormEnd) / 1000;

    const exit = await agent.stop();
    // Anything the agent flushed at its stop, then its last heartbeat.
    await rowsReaching(address, host, exit.published);
    const heartbeat = await lastHeartbeat(address, host, exit.published);
    const stored = await one<Record<string, string | number>>(
      address,
      `SELECT count() AS n, uniqExact(batch_id, batch_index) AS distinct_n,
         dateDiff('millisecond', max(ts), max(inserted_at)) AS e2e_ms
       FROM resets WHERE host = {host:String}`,
      host,
    );
    const byReason = await queryRows<{ direction: string; reason: string; n: string }>(
      address,
      `SELECT direction, reason, count() AS n FROM resets WHERE host = {host:String}
       GROUP BY direction, reason ORDER BY direction, reason`,
      host,
    );
    const aggregates = await one<{ n: string }>(
      address,
      'SELECT sum(resets) AS n FROM reset_aggregates FINAL WHERE host = {host:String}',
      host,
    );
    await collector.stop();
    const counted = collectorCounters(collector.stderr);
    const rows = Number(stored.n);
    const aggregatedStored = Number(aggregates.n);
    return {
      sent: storm.sent,
      stormS: storm.elapsedMs / 1000,
      streams: storm.streams,
      intervalsUs: storm.intervalsUs,
      backlog,
      emitted,
      kernelSeen: exit.kernelSeen,
      kernel: exit.kernel,
      decoded: exit.delivered,
      aggregated: exit.aggregated,
      lostInKernel: exit.lostInKernel,
      published: exit.published,
      droppedInAgent: exit.droppedInAgent,
      rows,
      distinctRows: Number(stored.distinct_n),
      storedByReason: byReason.map((r) => ({
        direction: r.direction,
        reason: r.reason,
        rows: Number(r.n),
      })),
      aggregatedStored,
      heartbeat,
      lost: emitted - rows - aggregatedStored,
      agentCpuS,
      agentCores: agentCpuS / (storm.elapsedMs / 1000 + DRAIN_MS / 1000),
      agentRssMiB,
      collectorCpuS,
      collectorCores: collectorCpuS / collectorS,
      lastResetToLastRowMs: Number(stored.e2e_ms),
      caughtUpMs,
      collector: {
        rows: counted.rows,
        inserts: counted.inserts,
        duplicateRows: counted.duplicateRows,
        insertFailures: counted.insertFailures,
      },
      deadLettered: counted.dead,
    };
  } finally {
    agent?.kill();
    await collector?.dispose();
    await nats.stop();
  }
}
