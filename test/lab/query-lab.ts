// A chDB store filled by the real pipeline from a few lab scenarios — agents in
// network namespaces → nats-server → `rstscope collector` → embedded ClickHouse —
// for suites that read stored resets in-process (the query API, the dashboards'
// panel SQL). The collector is stopped before the store is handed over: chDB is
// embedded, one process per data directory. Needs root (namespaces, BPF).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Actor } from './actor.js';
import type { AgentCounters } from './agent-runner.js';
import type { AgentRunner } from './agent-runner.js';
import { CollectorRunner } from './collector-runner.js';
import {
  routerRejectsNewConnections,
  snatApplicationAbort,
  startAgents,
  stopAgents,
} from './diagnosis-scenarios.js';
import type { ResetFacts, SnatFacts } from './diagnosis-scenarios.js';
import { Lab } from './lab.js';
import type { LabHost } from './lab.js';
import { NatsServer } from './nats-server.js';
import { queryRows } from './stored-resets.js';

/** The lab hosts' agent names: the `host` of their rows and heartbeats. */
export const LAB_AGENTS = { client: 'client', server: 'server' } as const;

export interface ClosedPortFacts {
  /** The client's address and the server's port nothing listened on. */
  clientAddr: string;
  serverAddr: string;
  port: number;
}

export interface LabStore {
  /** The chDB data directory (database rstscope, migrated), no process holding it. */
  dataDir: string;
  /** Wall-clock span of the scenarios, a little wider on both sides. */
  from: Date;
  to: Date;
  /** What the lab did. */
  reject: ResetFacts;
  snat: SnatFacts;
  closedPort: ClosedPortFacts;
  /** Addresses of the lab hosts. */
  hosts: Record<'client' | 'router' | 'server', LabHost>;
  /** Each agent's kernel counters at stop, and the events JetStream acknowledged. */
  agents: { name: string; counters: AgentCounters; published: number }[];
  /** Removes the data directory and tears the lab down. */
  dispose(): Promise<void>;
}

export const QUERY_LAB_PORTS = { reject: 9400, snat: 9410, closedPort: 9420 } as const;

/**
 * Runs a firewall reject at the router, an application abort behind SNAT and a
 * connect to a closed port, with agents on the client and the server (the router
 * unwatched, as a middlebox is), then waits until the collector stored every
 * published reset and every agent's last heartbeat, and stops it.
 */
export async function fillLabStore(): Promise<LabStore> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rstscope-query-lab-'));
  const lab = Lab.create();
  let nats: NatsServer | undefined;
  let collector: CollectorRunner | undefined;
  let running: AgentRunner[] = [];
  const cleanUp = async () => {
    try {
      if (running.length) await stopAgents(running).catch(() => undefined);
      await collector?.kill();
      await nats?.stop();
    } finally {
      lab.destroy();
    }
  };
  try {
    nats = await NatsServer.start();
    collector = await CollectorRunner.start(nats.url, { dataDir });
    const from = new Date(Date.now() - 60_000);
    running = await startAgents(nats.url, [
      { host: lab.client, name: LAB_AGENTS.client },
      { host: lab.server, name: LAB_AGENTS.server },
    ]);
    const reject = await routerRejectsNewConnections(lab, QUERY_LAB_PORTS.reject);
    const snat = await snatApplicationAbort(lab, QUERY_LAB_PORTS.snat);
    await Actor.connect(lab, lab.client, lab.server.ipv4, QUERY_LAB_PORTS.closedPort).waitFor(
      'error',
    );
    const stopping = running;
    running = [];
    const counters = await stopAgents(stopping);
    const agents = stopping.map((agent, i) => ({
      name: [LAB_AGENTS.client, LAB_AGENTS.server][i]!,
      counters: counters[i]!,
      published: agent.publish?.published ?? 0,
    }));
    const published = agents.reduce((n, a) => n + a.published, 0);
    await waitForStored(collector.queryAddress, published, agents.length);
    await collector.stop();
    await nats.stop();
    lab.destroy();
    return {
      // `rstscope collector --data-dir DIR` keeps chDB's data in DIR/clickhouse.
      dataDir: join(dataDir, 'clickhouse'),
      from,
      to: new Date(Date.now() + 60_000),
      reject,
      snat,
      closedPort: {
        clientAddr: lab.client.ipv4,
        serverAddr: lab.server.ipv4,
        port: QUERY_LAB_PORTS.closedPort,
      },
      hosts: { client: lab.client, router: lab.router, server: lab.server },
      agents,
      dispose: () => rm(dataDir, { recursive: true, force: true }),
    };
  } catch (err) {
    await cleanUp();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Until the store holds `published` resets and each run's last heartbeat says
 * as much: the agents' final heartbeats come after their last batches.
 */
async function waitForStored(address: string, published: number, runs: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const [row] = await queryRows<{ resets: string; runs: string; heartbeat_published: string }>(
      address,
      `SELECT (SELECT count() FROM resets) AS resets,
              count() AS runs, sum(p) AS heartbeat_published
       FROM (SELECT argMax(published, ts) AS p FROM agents GROUP BY host, boot_id, run_id)`,
    );
    if (
      Number(row!.resets) >= published &&
      Number(row!.runs) === runs &&
      Number(row!.heartbeat_published) === published
    ) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `the collector stored ${row!.resets} of ${published} resets, heartbeats of ${row!.runs} of ${runs} runs saying ${row!.heartbeat_published}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
