// Diagnosis end to end: real resets in the lab, one agent process per lab host
// (the router unwatched, as a middlebox is), all publishing to one collector on
// embedded ClickHouse; the assertions read the diagnosis views through the
// collector's query service, and run `rstscope explain` and `diagnose`.
//
// Phase 1 runs with every endpoint watched; phase 2 with the server's agent on
// the no-reason path of kernels before 6.10; phase 3 with no agent on the server.
// Between phases the agents stop, so their last heartbeats close their coverage.
// Needs root (namespaces, BPF); fails loudly without it.
import { execFile } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Actor } from './lab/actor.js';
import type { AgentRunner } from './lab/agent-runner.js';
import { RSTSCOPE_BIN } from './lab/agent-runner.js';
import { CollectorRunner } from './lab/collector-runner.js';
import {
  closeWithUnreadData,
  conntrackIdleKill,
  duplicateIpHosts,
  duplicateIpImpostor,
  lingerZeroAbort,
  routerRejectsNewConnections,
  snatApplicationAbort,
  startAgents,
  stopAgents,
  unwatchedServer,
} from './lab/diagnosis-scenarios.js';
import type {
  ClosingProcessFacts,
  ConntrackIdleFacts,
  DuplicateIpFacts,
  ResetFacts,
  SnatFacts,
} from './lab/diagnosis-scenarios.js';
import { Lab } from './lab/lab.js';
import { NatsServer } from './lab/nats-server.js';
import { queryRows } from './lab/stored-resets.js';

type Row = Record<string, unknown>;

let lab: Lab;
let nats: NatsServer;
let collector: CollectorRunner;
let running: AgentRunner[] = [];
let published = 0;

const facts: {
  reject?: ResetFacts;
  idle?: ConntrackIdleFacts;
  snat?: SnatFacts;
  duplicate?: DuplicateIpFacts;
  unread?: ClosingProcessFacts;
  linger?: ClosingProcessFacts;
  oldUnread?: ClosingProcessFacts;
  oldLinger?: ClosingProcessFacts;
  oldClosedPort?: number;
  unwatched?: ClosingProcessFacts;
} = {};

async function phase(
  agents: Parameters<typeof startAgents>[1],
  extraFor: Record<string, string[]>,
  provoke: () => Promise<void>,
): Promise<void> {
  const plain = agents.filter((a) => !extraFor[a.name]);
  running = [
    ...(await startAgents(nats.url, plain)),
    ...(
      await Promise.all(
        agents
          .filter((a) => extraFor[a.name])
          .map((a) => startAgents(nats.url, [a], extraFor[a.name])),
      )
    ).flat(),
  ];
  try {
    await provoke();
  } finally {
    const agentsNow = running;
    running = [];
    await stopAgents(agentsNow);
    published += agentsNow.reduce((n, a) => n + (a.publish?.published ?? 0), 0);
  }
}

beforeAll(async () => {
  lab = Lab.create();
  const dup = duplicateIpHosts(lab);
  nats = await NatsServer.start();
  collector = await CollectorRunner.start(nats.url);
  const client = { host: lab.client, name: 'client' };
  const server = { host: lab.server, name: 'server' };

  await phase(
    [
      client,
      server,
      { host: dup.serverA, name: 'server-a' },
      { host: dup.impostor, name: 'impostor' },
    ],
    {},
    async () => {
      facts.reject = await routerRejectsNewConnections(lab, 9300);
      facts.idle = await conntrackIdleKill(lab, 9310);
      facts.snat = await snatApplicationAbort(lab, 9320);
      facts.duplicate = await duplicateIpImpostor(lab, 9330);
      facts.unread = await closeWithUnreadData(lab, 9340);
      facts.linger = await lingerZeroAbort(lab, 9350);
    },
  );
  // The server's agent as on a kernel without a reset reason.
  await phase(
    [
      { ...client, name: 'client' },
      { ...server, name: 'server-old' },
    ],
    { 'server-old': ['--assume-no-reason'] },
    async () => {
      facts.oldUnread = await closeWithUnreadData(lab, 9360);
      facts.oldLinger = await lingerZeroAbort(lab, 9370);
      facts.oldClosedPort = 9380;
      await Actor.connect(lab, lab.client, lab.server.ipv4, 9380).waitFor('error');
    },
  );
  await phase([client], {}, async () => {
    facts.unwatched = await unwatchedServer(lab, 9390);
  });
  await waitUntil(async () => (await count('SELECT count() AS n FROM resets')) >= published);
}, 120_000);

afterAll(async () => {
  try {
    if (running.length) await stopAgents(running);
  } finally {
    await collector?.dispose();
    await nats?.stop();
    lab?.destroy();
  }
});

async function count(sql: string): Promise<number> {
  const [row] = await queryRows<{ n: string }>(collector.queryAddress, sql);
  return Number(row!.n);
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the collector');
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** reset_causes rows of one socket, as its host saw it. */
async function causesAt(host: string, localPort: number): Promise<Row[]> {
  return queryRows(
    collector.queryAddress,
    'SELECT * FROM reset_causes WHERE host = {host:String} AND local_port = {port:UInt16} ORDER BY ts',
    { host, port: String(localPort) },
  );
}

async function receivedBy(host: string, localPort: number): Promise<Row> {
  const rows = (await causesAt(host, localPort)).filter((r) => r.direction === 'received');
  expect(rows, `one received reset at ${host}:${localPort}`).toHaveLength(1);
  return rows[0]!;
}

async function rstscope(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(RSTSCOPE_BIN, [
    ...args,
    '--server',
    collector.queryAddress,
    '--since',
    '1h',
  ]);
  return stdout;
}

describe('diagnosis in the lab', () => {
  it('1. the router rejects new connections: firewall_reject, injected, hop 1 from the client', async () => {
    const row = await receivedBy('client', facts.reject!.client.localPort);
    expect(row).toMatchObject({
      origin: 'injected',
      cause: 'firewall_reject',
      state: 'SYN_SENT',
      rst_ttl: 64,
      hop_distance: 1,
      peer_watchers: ['server'],
      sender_host: null,
    });
  });

  it('2. conntrack forgets idle flows: idle_timeout within ±1 s, and the flows bracket the timeout', async () => {
    const { flows, timeoutS } = facts.idle!;
    const killed = flows.filter((f) => f.killed);
    const survived = flows.filter((f) => !f.killed);
    expect(killed.length).toBeGreaterThan(0);
    expect(survived.length).toBeGreaterThan(0);
    for (const flow of killed) {
      const row = await receivedBy('client', flow.client.localPort);
      expect(row).toMatchObject({ origin: 'injected', cause: 'idle_timeout', hop_distance: 1 });
      expect(Math.abs(Number(row.idle_ms) - flow.silenceMs)).toBeLessThanOrEqual(1000);
    }
    for (const flow of survived) {
      const row = await receivedBy('client', flow.client.localPort);
      expect(row).toMatchObject({ origin: 'peer', cause: 'app_abort_linger' });
      expect(Math.abs(Number(row.survived_idle_ms) - flow.silenceMs)).toBeLessThanOrEqual(1000);
    }
    const boxes = await queryRows<Row>(
      collector.queryAddress,
      "SELECT * FROM middleboxes WHERE destination_port = 9310 AND kind = 'idle_kill'",
    );
    expect(boxes).toHaveLength(1);
    const box = boxes[0]!;
    expect(box).toMatchObject({
      source_host: 'client',
      hop_distance: 1,
      rst_ttl: 64,
      peer_ttl: 63,
    });
    expect(Number(box.timeout_above_ms)).toBeLessThan(timeoutS * 1000);
    expect(Number(box.timeout_at_most_ms)).toBeGreaterThanOrEqual(timeoutS * 1000);
  });

  it('3. through SNAT an application abort is one flow: origin peer, both ends in flows', async () => {
    const { client, server } = facts.snat!;
    expect(await receivedBy('client', client.localPort)).toMatchObject({
      origin: 'peer',
      cause: 'app_abort_linger',
      peer_host: 'server',
    });
    const flows = await queryRows<Row>(
      collector.queryAddress,
      "SELECT * FROM flows WHERE receiver_host = 'client' AND receiver_port = {port:UInt16}",
      { port: String(client.localPort) },
    );
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({
      origin: 'peer',
      receiver_addr: '::ffff:10.1.0.2',
      receiver_remote_addr: '::ffff:10.2.0.2',
      receiver_remote_port: server.localPort,
      sender_host: 'server',
      sender_remote_addr: '::ffff:10.2.0.1',
      sender_remote_port: server.remotePort,
    });
    expect(server.remotePort).not.toBe(client.localPort);
  });

  it('4. a duplicate IP: the reset came from a host that is not the peer, named', async () => {
    const row = await receivedBy('client', facts.duplicate!.client.localPort);
    expect(row).toMatchObject({
      origin: 'injected',
      cause: 'not_the_peer',
      sender_host: 'impostor',
    });
    expect(row.detail).toBe('impostor answered for 10.3.0.2, which server-a holds');
  });

  it('5. no agent covers the server: origin unknown, the TTL evidence still shown', async () => {
    const row = await receivedBy('client', facts.unwatched!.client.localPort);
    expect(row).toMatchObject({
      origin: 'unknown',
      rst_ttl: 63,
      peer_ttl: 63,
      hop_distance: 2,
      peer_hop_distance: 2,
      peer_watchers: [],
    });
  });

  it('6. close with unread data and SO_LINGER 0: both ends matched, the closing process named', async () => {
    for (const [f, cause] of [
      [facts.unread!, 'close_unread_data'],
      [facts.linger!, 'app_abort_linger'],
    ] as const) {
      const received = await receivedBy('client', f.client.localPort);
      const [sent] = (await causesAt('server', f.server.localPort)).filter(
        (r) => r.direction === 'sent' && r.remote_port === f.client.localPort,
      );
      expect(received).toMatchObject({ origin: 'peer', cause, sender_comm: f.comm });
      expect(sent).toMatchObject({ origin: 'local', cause, peer_event_id: received.event_id });
      expect(received.detail).toContain(`${f.comm} (pid `);
      expect(received.detail).toContain(' on server');
    }
  });

  it('7. without a kernel reason the socket evidence gives the causes', async () => {
    const sentAt = async (port: number, remotePort?: number) =>
      (await causesAt('server-old', port)).filter(
        (r) => r.direction === 'sent' && (remotePort === undefined || r.remote_port === remotePort),
      );
    const [unread] = await sentAt(
      facts.oldUnread!.server.localPort,
      facts.oldUnread!.client.localPort,
    );
    const [linger] = await sentAt(
      facts.oldLinger!.server.localPort,
      facts.oldLinger!.client.localPort,
    );
    const [closed] = await sentAt(facts.oldClosedPort!);
    for (const row of [unread, linger, closed]) expect(row).toMatchObject({ reason: 'UNKNOWN' });
    expect(unread).toMatchObject({
      cause: 'close_unread_data',
      sender_comm: facts.oldUnread!.comm,
    });
    expect(linger).toMatchObject({ cause: 'app_abort_linger' });
    expect(closed).toMatchObject({ cause: 'closed_port' });
    // The client's side of the same resets takes the sender's cause.
    expect(await receivedBy('client', facts.oldUnread!.client.localPort)).toMatchObject({
      origin: 'peer',
      cause: 'close_unread_data',
    });
  });

  it('8. rstscope explain tells the story of scenarios 1 and 2 with the real figures', async () => {
    const reject = facts.reject!;
    const rejectStory = await rstscope([
      'explain',
      `${reject.client.localAddr}:${reject.client.localPort}`,
      `${reject.client.remoteAddr}:${reject.client.remotePort}`,
    ]);
    expect(rejectStory).toContain(
      `10.1.0.2:${reject.client.localPort} (client) received a reset from 10.2.0.2:${reject.client.remotePort}`,
    );
    expect(rejectStory).toContain(
      `10.2.0.2:${reject.client.remotePort} (server) never sent one, and its agent watched that address then.`,
    );
    expect(rejectStory).toMatch(/RST TTL 64, .*: injected 1 hop from client/);
    expect(rejectStory).toContain('Cause: firewall_reject');

    const kill = facts.idle!.flows.find((f) => f.killed)!;
    const row = await receivedBy('client', kill.client.localPort);
    const idleStory = await rstscope(['explain', `10.1.0.2:${kill.client.localPort}`]);
    expect(idleStory).toContain(
      `RST TTL 64, server's segments arrive with 63 on this connection: injected 1 hop from client, after ${(Number(row.idle_ms) / 1000).toFixed(1)} s idle`,
    );
    expect(idleStory).toContain('Cause: idle_timeout');
    // DUMP_STORIES=FILE keeps what was printed, e.g. for the README's example.
    if (process.env.DUMP_STORIES) appendFileSync(process.env.DUMP_STORIES, rejectStory + idleStory);
  });

  it('8. rstscope diagnose prints the top causes and the middleboxes with their brackets', async () => {
    const out = await rstscope(['diagnose']);
    for (const cause of ['firewall_reject', 'idle_timeout', 'not_the_peer', 'app_abort_linger']) {
      expect(out).toContain(cause);
    }
    expect(out).toContain('Middleboxes that injected resets');
    const [box] = await queryRows<Row>(
      collector.queryAddress,
      "SELECT * FROM middleboxes WHERE destination_port = 9310 AND kind = 'idle_kill'",
    );
    const s = (ms: unknown) => `${(Number(ms) / 1000).toFixed(1)} s`;
    expect(out).toContain(`> ${s(box!.timeout_above_ms)}, ≤ ${s(box!.timeout_at_most_ms)}`);
    expect(out).toMatch(/client → 10\.2\.0\.2:9300 \(server\)\s+reject_on_connect/);
  });
});
