// The diagnosis scenarios' drivers, proved on a real kernel: they run in one lab
// with one agent per host, as the diagnosis test runs them, and each agent's raw
// records must show exactly the resets the driver says it provoked, and nothing
// after its cleanup. Needs root (namespaces, BPF); fails loudly without it.
// DUMP_SCENARIO_EVENTS=FILE appends each scenario's records to FILE (JSON lines).
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResetEvent } from '../agent/reset-event.js';
import type { AgentRunner } from './lab/agent-runner.js';
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
import type { DuplicateIpHosts } from './lab/diagnosis-scenarios.js';
import { Lab } from './lab/lab.js';

let lab: Lab;
let dup: DuplicateIpHosts;
let agents: AgentRunner[] = [];

beforeAll(async () => {
  lab = Lab.create();
  dup = duplicateIpHosts(lab);
  agents = await startAgents(undefined, [
    { host: lab.client, name: 'client' },
    { host: lab.router, name: 'router' },
    { host: lab.server, name: 'server' },
    { host: dup.serverA, name: 'server-a' },
    { host: dup.impostor, name: 'impostor' },
  ]);
});

afterAll(async () => {
  try {
    await stopAgents(agents);
  } finally {
    lab?.destroy();
  }
});

/**
 * Every record of the flows to one server port, from every agent, once the
 * records of the resets expected have arrived and a little longer, so that a
 * stray reset (from a cleanup, say) would be among them.
 */
async function recordsOfPort(
  port: number,
  expected: number,
  facts?: unknown,
): Promise<ResetEvent[]> {
  const of = () =>
    agents
      .flatMap((a) => a.events.items)
      .filter((e) => e.local_port === port || e.remote_port === port);
  const deadline = Date.now() + 5_000;
  while (of().length < expected && Date.now() < deadline) await sleep(50);
  await sleep(500);
  const records = of();
  if (process.env.DUMP_SCENARIO_EVENTS) {
    appendFileSync(
      process.env.DUMP_SCENARIO_EVENTS,
      `${JSON.stringify({ port, facts, records })}\n`,
    );
  }
  return records;
}

const one = (records: ResetEvent[], host: string, direction: 'sent' | 'received') => {
  const found = records.filter((e) => e.host === host && e.direction === direction);
  expect(found, `${direction} on ${host}`).toHaveLength(1);
  return found[0]!;
};

describe('diagnosis scenario drivers', () => {
  it('1. the router rejects a new connection: received in SYN_SENT with TTL 64, sent by no stack', async () => {
    const facts = await routerRejectsNewConnections(lab, 9100);
    expect(facts).toMatchObject({ resetBy: lab.router, injected: true, server: null });
    const records = await recordsOfPort(9100, 1);
    expect(records).toHaveLength(1);
    expect(one(records, 'client', 'received')).toMatchObject({
      accepted: true,
      state: 'SYN_SENT',
      local_addr: facts.client.localAddr,
      local_port: facts.client.localPort,
      remote_addr: facts.client.remoteAddr,
      remote_port: 9100,
      rst_ttl: facts.rstTtl,
      rst_seq: 0,
      peer_ttl: null,
    });
  });

  it('2. conntrack idle timeout: the long silence is killed by the router, the short one survives', async () => {
    const facts = await conntrackIdleKill(lab, 9110, {
      timeoutS: 5,
      flows: [{ idleMs: 3_000 }, { idleMs: 7_000 }],
    });
    const [survived, killed] = facts.flows;
    expect(survived).toMatchObject({ killed: false, resetBy: lab.server, injected: false });
    expect(killed).toMatchObject({ killed: true, resetBy: lab.router, injected: true });
    expect(survived!.silenceMs).toBeGreaterThanOrEqual(3_000);
    expect(killed!.silenceMs).toBeGreaterThanOrEqual(7_000);

    const records = await recordsOfPort(9110, 3, facts);
    expect(records).toHaveLength(3);
    const ofFlow = (flow: typeof survived) =>
      records.filter(
        (e) => e.local_port === flow!.client.localPort || e.remote_port === flow!.client.localPort,
      );

    // The survivor: the server's abort, passed by the router.
    const abort = one(ofFlow(survived), 'server', 'sent');
    expect(abort).toMatchObject({ reason: 'TCP_STATE', linger_on: true, linger_s: 0 });
    const survivorRecv = one(ofFlow(survived), 'client', 'received');
    expect(survivorRecv).toMatchObject({
      accepted: true,
      state: 'ESTABLISHED',
      rst_ttl: survived!.rstTtl,
      peer_ttl: survived!.peerTtl,
      rst_seq: abort.snd_nxt,
    });

    // The killed flow: the router's RST, exact, and the client's silence.
    expect(ofFlow(killed)).toHaveLength(1);
    const injected = one(ofFlow(killed), 'client', 'received');
    expect(injected).toMatchObject({
      accepted: true,
      state: 'ESTABLISHED',
      rst_ttl: killed!.rstTtl,
      peer_ttl: killed!.peerTtl,
      rst_seq: injected.rcv_nxt,
      remote_port: 9110,
    });
    // The kernel's idle time runs from the last echo to the RST's arrival.
    expect(injected.last_recv_ms).toBeGreaterThanOrEqual(killed!.silenceMs - 50);
    expect(injected.last_recv_ms).toBeLessThan(killed!.silenceMs + 500);
  });

  it('3. SNAT: the ends name the flow differently; the server aborts', async () => {
    const facts = await snatApplicationAbort(lab, 9120);
    expect(facts.server.remoteAddr).toBe('10.2.0.1'); // the router's address towards the server
    expect(facts.server.remotePort).not.toBe(facts.client.localPort);

    const records = await recordsOfPort(9120, 2);
    expect(records).toHaveLength(2);
    const sent = one(records, 'server', 'sent');
    const recv = one(records, 'client', 'received');
    expect(sent).toMatchObject({
      reason: 'TCP_STATE',
      local_port: 9120,
      remote_addr: facts.server.remoteAddr,
      remote_port: facts.server.remotePort,
    });
    expect(recv).toMatchObject({
      accepted: true,
      local_port: facts.client.localPort,
      remote_addr: facts.client.remoteAddr,
      rst_ttl: facts.rstTtl,
      peer_ttl: facts.peerTtl,
      rst_seq: sent.snd_nxt,
      isn_local: sent.isn_remote,
      isn_remote: sent.isn_local,
    });
  });

  it('4. duplicate IP: the impostor answers NO_SOCKET, server-a records nothing', async () => {
    for (const port of [9130, 9131]) {
      const facts = await duplicateIpImpostor(lab, port);
      expect(facts).toMatchObject({ resetBy: dup.impostor, serverA: dup.serverA });
      const records = await recordsOfPort(port, 2);
      expect(records).toHaveLength(2);
      const sent = one(records, 'impostor', 'sent');
      expect(sent).toMatchObject({
        reason: 'NO_SOCKET',
        sock_cookie: '0',
        local_addr: '10.3.0.2',
        local_port: port,
        remote_addr: facts.client.localAddr,
        remote_port: facts.client.localPort,
      });
      expect(one(records, 'client', 'received')).toMatchObject({
        accepted: true,
        state: 'ESTABLISHED',
        remote_addr: '10.3.0.2',
        rst_ttl: facts.rstTtl,
        peer_ttl: facts.peerTtl,
        rst_seq: sent.trigger_ack,
      });
    }
  });

  it('5. the unwatched server: an ordinary peer abort with the peer TTL', async () => {
    const facts = await unwatchedServer(lab, 9140);
    const records = await recordsOfPort(9140, 2);
    expect(records).toHaveLength(2);
    expect(one(records, 'client', 'received')).toMatchObject({
      rst_ttl: facts.rstTtl,
      peer_ttl: facts.peerTtl,
    });
  });

  it('6. close with unread data and SO_LINGER 0 name the closing process', async () => {
    const unread = await closeWithUnreadData(lab, 9150);
    let records = await recordsOfPort(9150, 2);
    expect(records).toHaveLength(2);
    expect(one(records, 'server', 'sent')).toMatchObject({
      reason: 'TCP_ABORT_ON_CLOSE',
      comm: unread.comm,
      unread_bytes: unread.unreadBytes,
      remote_port: unread.client.localPort,
    });
    one(records, 'client', 'received');

    const linger = await lingerZeroAbort(lab, 9151);
    records = await recordsOfPort(9151, 2);
    expect(records).toHaveLength(2);
    expect(one(records, 'server', 'sent')).toMatchObject({
      reason: 'TCP_STATE',
      comm: linger.comm,
      linger_on: true,
      linger_s: 0,
    });
    one(records, 'client', 'received');
  });

  it('leave no rule, sysctl, neighbour pin or socket behind', () => {
    const hosts = [lab.client, lab.router, lab.server, dup.serverA, dup.impostor];
    for (const host of hosts) {
      const rules = lab.exec(host, ['iptables-save']).split('\n');
      expect(
        rules.filter((l) => l.startsWith('-A')),
        host.role,
      ).toEqual([]);
      expect(lab.exec(host, ['ss', '-Htan']).trim(), host.role).toBe('');
      // The defaults of a new network namespace.
      expect(lab.exec(host, ['sysctl', '-n', 'net.ipv4.tcp_orphan_retries']).trim()).toBe('0');
    }
    const conntrack = (key: string) =>
      lab.exec(lab.router, ['sysctl', '-n', `net.netfilter.nf_conntrack_tcp_${key}`]).trim();
    expect(conntrack('timeout_established')).toBe('432000');
    expect(conntrack('loose')).toBe('1');
    expect(lab.ip(lab.router, 'neigh', 'show', 'dev', 'br0')).not.toContain('PERMANENT');
  });
});
