// Drivers for the diagnosis scenarios. Each provokes one kind of reset with real
// programs in a Lab and returns the facts a test needs to check the stored
// diagnosis: the flow as each end names it, which lab host made the reset, and
// idle periods measured with this process's clock.
//
// Every driver takes a base port (and says which ports it uses from it), undoes
// its own iptables, sysctl and neighbour changes whatever happens, and returns
// only once nothing it started can send another reset, so drivers can run one
// after another in one Lab while agents watch.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Actor } from './actor.js';
import type { ActorEvent } from './actor.js';
import { AgentRunner } from './agent-runner.js';
import type { AgentCounters } from './agent-runner.js';
import type { Lab, LabHost } from './lab.js';

/** One end of a flow, as that host's kernel names it. */
export interface SocketView {
  host: LabHost;
  localAddr: string;
  localPort: number;
  remoteAddr: string;
  remotePort: number;
}

/** What a test needs to check one provoked reset. */
export interface ResetFacts {
  /** The connecting end; it is always the one that receives the reset. */
  client: SocketView;
  /** The accepting end; null when the connection never reached it. */
  server: SocketView | null;
  /** The host whose kernel made the reset. */
  resetBy: LabHost;
  /**
   * Made by netfilter (REJECT --reject-with tcp-reset), not by a TCP stack: no
   * agent records it as sent, and it carries the rejecting hop's own TTL.
   */
  injected: boolean;
  /** TTL the RST reaches the client with: 64, less one per router after its maker. */
  rstTtl: number;
  /** TTL of the server's ordinary segments at the client; null when none arrived. */
  peerTtl: number | null;
}

/** The default TTL of every lab host, and what is left of it one router further. */
const TTL = 64;
const TTL_BEHIND_ROUTER = TTL - 1;

// ---------------------------------------------------------------------------
// 1. Firewall reject of a connection attempt

/**
 * The router's FORWARD rule answers the client's SYN with a RST that netfilter
 * builds (nf_send_reset), not a TCP stack: tcp_send_reset fires nowhere, and the
 * RST leaves the router with a fresh TTL of 64 where the server's own segments
 * reach the client with 63. The client receives it in SYN_SENT and its connect
 * fails with ECONNREFUSED. The server does listen: the port is open, the reset is
 * the router's. Uses `port` (server) and `port + 1` (the client's source port,
 * fixed because a failed connect never reports one).
 */
export async function routerRejectsNewConnections(lab: Lab, port: number): Promise<ResetFacts> {
  const { client, router, server } = lab;
  const clientPort = port + 1;
  return withUndo(async (undo) => {
    await serve(lab, undo, server, port, 'hold');
    iptables(lab, undo, router, 'filter', 'FORWARD', [
      ...['-p', 'tcp', '--syn', '--dport', String(port)],
      ...['-j', 'REJECT', '--reject-with', 'tcp-reset'],
    ]);
    const connecting = connect(lab, undo, client, server.ipv4, port, [
      '--local-port',
      String(clientPort),
    ]);
    await expectError(connecting, 'ECONNREFUSED');
    return {
      client: view(client, client.ipv4, clientPort, server.ipv4, port),
      server: null,
      resetBy: router,
      injected: true,
      rstTtl: TTL,
      peerTtl: null,
    };
  });
}

// ---------------------------------------------------------------------------
// 2. Idle timeout at a stateful middlebox (conntrack INVALID reject)

export interface IdleFlowSpec {
  /** How long the flow stays silent before the client sends again. */
  idleMs: number;
}

export interface ConntrackIdleOptions {
  /** The router's nf_conntrack_tcp_timeout_established, seconds. */
  timeoutS: number;
  flows: IdleFlowSpec[];
}

export const DEFAULT_CONNTRACK_IDLE: ConntrackIdleOptions = {
  timeoutS: 5,
  flows: [{ idleMs: 3_000 }, { idleMs: 7_000 }],
};

export interface IdleFlowFacts extends ResetFacts {
  server: SocketView;
  idleMs: number;
  /**
   * Measured silence: from the client receiving the echo of its last exchange to
   * its next send (the one the router reset, or the one that was echoed).
   */
  silenceMs: number;
  /**
   * The conntrack entry had expired and the router reset the send after the
   * silence. Otherwise that send was echoed (the flow survived the silence) and
   * the server then aborted it with SO_LINGER {1, 0}, a peer reset the router
   * passes: that reset is how the store learns that this silence was survived.
   */
  killed: boolean;
}

export interface ConntrackIdleFacts {
  timeoutS: number;
  flows: IdleFlowFacts[];
}

const ESTABLISHED_ACCEPT = ['-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'];
const INVALID_REJECT = [
  ...['-p', 'tcp', '-m', 'conntrack', '--ctstate', 'INVALID'],
  ...['-j', 'REJECT', '--reject-with', 'tcp-reset'],
];
const CT_ESTABLISHED_TIMEOUT = 'net.netfilter.nf_conntrack_tcp_timeout_established';
const CT_LOOSE = 'net.netfilter.nf_conntrack_tcp_loose';

/**
 * The router tracks connections with a short established timeout. A flow silent
 * for longer loses its conntrack entry (expired entries are reaped at the next
 * lookup at the latest); with nf_conntrack_tcp_loose=0 conntrack will not pick a
 * connection up mid-stream, so the client's next segment, an ACK without SYN, is
 * INVALID, and the FORWARD rule answers it with a RST made by netfilter (TTL 64,
 * sequence number = the segment's ACK, so the client accepts it). Flows silent for
 * less than the timeout survive, and the server aborts them afterwards. Every
 * exchange is echoed, so the client receives segments and its socket knows when
 * it last heard from the server. Flows run concurrently: the wall time is about
 * the longest silence. Uses `port` only: one echo server takes every flow.
 */
export async function conntrackIdleKill(
  lab: Lab,
  port: number,
  options: ConntrackIdleOptions = DEFAULT_CONNTRACK_IDLE,
): Promise<ConntrackIdleFacts> {
  const { client, router, server } = lab;
  return withUndo(async (undo) => {
    // Inserted at the top, last first: INVALID is rejected before anything is
    // accepted. The conntrack match is what makes this namespace track at all.
    iptables(lab, undo, router, 'filter', 'FORWARD', ESTABLISHED_ACCEPT);
    iptables(lab, undo, router, 'filter', 'FORWARD', INVALID_REJECT);
    // Per network namespace on this kernel; set after the rules, which load nf_conntrack.
    sysctl(lab, undo, router, CT_ESTABLISHED_TIMEOUT, options.timeoutS);
    sysctl(lab, undo, router, CT_LOOSE, 0);

    const echo = await serve(lab, undo, server, port, 'echo');
    // The server still holds the flows the router killed.
    undo.push(() => retireSilently(lab, server, port, echo));

    const flows = await Promise.all(
      options.flows.map(async (spec) => {
        const actor = connect(lab, undo, client, server.ipv4, port);
        const { local_port } = await actor.waitFor('connected');
        const clientPort = Number(local_port);
        const accepted = await acceptedFrom(echo, clientPort);
        const lastHeard = await exchange(actor);
        return { spec, actor, clientPort, accepted, lastHeard };
      }),
    );
    expectTracked(lab, router, port, flows.length);

    const facts = await Promise.all(
      flows.map(async ({ spec, actor, clientPort, accepted, lastHeard }) => {
        await sleep(Math.max(0, lastHeard + spec.idleMs - performance.now()));
        const sentAt = performance.now();
        const killed = !(await exchangeOrReset(actor));
        if (!killed) {
          echo.send(`abort ${clientPort}`);
          await expectError(actor, 'ECONNRESET');
        }
        return {
          client: view(client, client.ipv4, clientPort, server.ipv4, port),
          server: serverView(server, accepted),
          resetBy: killed ? router : server,
          injected: killed,
          rstTtl: killed ? TTL : TTL_BEHIND_ROUTER,
          peerTtl: TTL_BEHIND_ROUTER,
          idleMs: spec.idleMs,
          silenceMs: Math.round(sentAt - lastHeard),
          killed,
        };
      }),
    );
    return { timeoutS: options.timeoutS, flows: facts };
  });
}

/** Throws unless the router's conntrack table holds at least `count` flows to the port. */
function expectTracked(lab: Lab, router: LabHost, port: number, count: number): void {
  const entries = lab
    .exec(router, ['conntrack', '-L', '-p', 'tcp', '--dport', String(port)])
    .split('\n')
    .filter((line) => line.includes('ESTABLISHED'));
  if (entries.length < count) {
    throw new Error(
      `conntrack tracks ${entries.length} of ${count} flows to port ${port} in ${router.ns}`,
    );
  }
}

// ---------------------------------------------------------------------------
// 3. Application abort behind SNAT

export interface SnatFacts extends ResetFacts {
  server: SocketView;
}

/** Source ports the router maps to: below every ephemeral port, so never the client's own. */
const NAT_PORTS = '20000-29999';

/**
 * The router masquerades the client towards the server, so the two ends name the
 * flow differently: the client 10.1.0.2:c → 10.2.0.2:P, the server
 * 10.2.0.2:P ← 10.2.0.1:n, with n from a range the client's ephemeral ports never
 * use. The server aborts with SO_LINGER {1, 0} (close → tcp_disconnect, reason
 * TCP_STATE); the RST is translated back on its way and the client receives it.
 * Only the initial sequence numbers tie the two records together. Uses `port`.
 */
export async function snatApplicationAbort(lab: Lab, port: number): Promise<SnatFacts> {
  const { client, router, server } = lab;
  return withUndo(async (undo) => {
    iptables(lab, undo, router, 'nat', 'POSTROUTING', [
      ...['-o', 'eth1', '-p', 'tcp', '--dport', String(port)],
      ...['-j', 'MASQUERADE', '--to-ports', NAT_PORTS],
    ]);
    const aborting = await serve(lab, undo, server, port, 'linger0');
    const connecting = connect(lab, undo, client, server.ipv4, port);
    const clientPort = Number((await connecting.waitFor('connected')).local_port);
    const accepted = await aborting.waitFor('accepted');
    const serverSide = serverView(server, accepted);
    if (serverSide.remoteAddr !== '10.2.0.1' || serverSide.remotePort === clientPort) {
      throw new Error(`the router did not translate the flow: ${JSON.stringify(accepted)}`);
    }
    connecting.send('send 10');
    await expectError(connecting, 'ECONNRESET');
    return {
      client: view(client, client.ipv4, clientPort, server.ipv4, port),
      server: serverSide,
      resetBy: server,
      injected: false,
      rstTtl: TTL_BEHIND_ROUTER,
      peerTtl: TTL_BEHIND_ROUTER,
    };
  });
}

// ---------------------------------------------------------------------------
// 4. Duplicate IP

export interface DuplicateIpHosts {
  /** The host the client means to reach. */
  serverA: LabHost;
  /** Another host on the same bridge with the same address. */
  impostor: LabHost;
}

export interface DuplicateIpFacts extends ResetFacts, DuplicateIpHosts {
  server: SocketView;
}

const DUPLICATE_IP = '10.3.0.2';
const duplicateIpLabs = new WeakMap<Lab, DuplicateIpHosts>();

/**
 * The two hosts of the duplicate-IP scenario, on the lab's bridge, created at the
 * first call for a lab; call it before starting their agents.
 */
export function duplicateIpHosts(lab: Lab): DuplicateIpHosts {
  let hosts = duplicateIpLabs.get(lab);
  if (!hosts) {
    const [serverA, impostor] = lab.addBridge([
      { role: 'server-a', ipv4: DUPLICATE_IP },
      { role: 'impostor', ipv4: DUPLICATE_IP },
    ]);
    hosts = { serverA: serverA!, impostor: impostor! };
    duplicateIpLabs.set(lab, hosts);
  }
  return hosts;
}

/**
 * server-a and the impostor both own 10.3.0.2 behind the router; the router's
 * neighbour entry decides which of them gets the traffic. It is pinned
 * (permanent, so neither host's ARP can move it) to server-a while the client
 * connects and exchanges, then switched to the impostor. The client's next
 * segment reaches the impostor, whose kernel has no socket for it and answers
 * with a RST (NO_SOCKET, no socket so cookie 0). For the client it comes from the
 * right address, with the server's TTL (63) and an exact sequence number; only
 * the two hosts' own records tell it apart: server-a sent nothing and still holds
 * the connection. Uses `port`.
 */
export async function duplicateIpImpostor(lab: Lab, port: number): Promise<DuplicateIpFacts> {
  const { client, router } = lab;
  const { serverA, impostor } = duplicateIpHosts(lab);
  return withUndo(async (undo) => {
    const pin = ['neigh', 'replace', DUPLICATE_IP, 'dev', 'br0', 'nud', 'permanent'];
    const pinTo = (host: LabHost) => lab.ip(router, ...pin, 'lladdr', mac(lab, host));
    pinTo(serverA);
    undo.push(() => lab.ip(router, 'neigh', 'del', DUPLICATE_IP, 'dev', 'br0'));
    const holding = await serve(lab, undo, serverA, port, 'hold');
    // server-a still holds the connection the client lost.
    undo.push(() => retireSilently(lab, serverA, port, holding));
    const connecting = connect(lab, undo, client, DUPLICATE_IP, port);
    const clientPort = Number((await connecting.waitFor('connected')).local_port);
    const accepted = await acceptedFrom(holding, clientPort);
    connecting.send('send 10');
    await holding.waitFor('data');

    pinTo(impostor);
    connecting.send('send 10');
    await expectError(connecting, 'ECONNRESET');
    return {
      client: view(client, client.ipv4, clientPort, DUPLICATE_IP, port),
      server: serverView(serverA, accepted),
      resetBy: impostor,
      injected: false,
      rstTtl: TTL_BEHIND_ROUTER,
      peerTtl: TTL_BEHIND_ROUTER,
      serverA,
      impostor,
    };
  });
}

function mac(lab: Lab, host: LabHost): string {
  const [link] = JSON.parse(lab.ip(host, '-j', 'link', 'show', 'dev', 'eth0')) as Array<{
    address: string;
  }>;
  return link!.address;
}

// ---------------------------------------------------------------------------
// 5 and 6. Resets the server's own process causes

export interface ClosingProcessFacts extends ResetFacts {
  server: SocketView;
  /** The server process's title: the comm its reset is recorded with. */
  comm: string;
  /** Bytes the client sent that the server never read when it closed. */
  unreadBytes: number;
}

/**
 * The server closes a socket with 1000 bytes it never read. RFC 2525 says a
 * close that would lose data must reset, so tcp_close() sends a RST (reason
 * TCP_ABORT_ON_CLOSE) from the closing process, instead of a FIN. Uses `port`.
 */
export function closeWithUnreadData(lab: Lab, port: number): Promise<ClosingProcessFacts> {
  return serverCloses(lab, port, 'unread', 'rst-unread-app', 1000);
}

/**
 * The server sets SO_LINGER {1, 0} and closes on the first data: close() with a
 * zero linger goes through tcp_disconnect(), which resets at once (reason
 * TCP_STATE, linger on, 0 s) from the closing process. Uses `port`.
 */
export function lingerZeroAbort(lab: Lab, port: number): Promise<ClosingProcessFacts> {
  return serverCloses(lab, port, 'linger0', 'rst-linger-app', 0);
}

/**
 * A reset from a host no agent watches: run it with no agent on the server. The
 * server aborts with SO_LINGER {1, 0}; the client receives an ordinary peer reset
 * (TTL 63 like all the server's segments) whose sending the store cannot confirm:
 * its origin is unknown because the peer is not watched, not injected. Uses `port`.
 */
export function unwatchedServer(lab: Lab, port: number): Promise<ClosingProcessFacts> {
  return serverCloses(lab, port, 'linger0', 'rst-unwatched', 0);
}

async function serverCloses(
  lab: Lab,
  port: number,
  mode: 'unread' | 'linger0',
  title: string,
  unreadBytes: number,
): Promise<ClosingProcessFacts> {
  const { client, server } = lab;
  return withUndo(async (undo) => {
    // unread: the close comes 300 ms after the accept, well after the data arrived.
    const flags = ['--title', title, '--wait-ms', '300'];
    const closing = await serve(lab, undo, server, port, mode, flags);
    const connecting = connect(lab, undo, client, server.ipv4, port);
    const clientPort = Number((await connecting.waitFor('connected')).local_port);
    const accepted = await acceptedFrom(closing, clientPort);
    connecting.send(`send ${unreadBytes || 10}`);
    await expectError(connecting, 'ECONNRESET');
    return {
      client: view(client, client.ipv4, clientPort, server.ipv4, port),
      server: serverView(server, accepted),
      resetBy: server,
      injected: false,
      rstTtl: TTL_BEHIND_ROUTER,
      peerTtl: TTL_BEHIND_ROUTER,
      comm: title,
      unreadBytes,
    };
  });
}

// ---------------------------------------------------------------------------
// Agents, one per lab host

export interface WatchedHost {
  host: LabHost;
  /** The agent's --host: the host name in its records and heartbeats. */
  name: string;
}

/**
 * One `rstscope agent` per lab host, each covering only that host's namespace,
 * as separate hosts of a fleet would run them; all publish to natsUrl, or only
 * print when it is undefined. If one fails to start, the others are stopped.
 */
export async function startAgents(
  natsUrl: string | undefined,
  hosts: WatchedHost[],
  extra: string[] = [],
): Promise<AgentRunner[]> {
  const nats = natsUrl === undefined ? [] : ['--nats', natsUrl];
  const started = await Promise.allSettled(
    hosts.map(({ host, name }) =>
      AgentRunner.start(['--netns', host.ns, '--host', name, ...nats, ...extra]),
    ),
  );
  const agents = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    for (const agent of agents) agent.kill();
    throw failed.reason;
  }
  return agents;
}

/** Stops every agent (all of them, even when one fails) and returns their counters. */
export async function stopAgents(agents: AgentRunner[]): Promise<AgentCounters[]> {
  const stopped = await Promise.allSettled(agents.map((agent) => agent.stop()));
  const failed = stopped.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return stopped.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
}

// ---------------------------------------------------------------------------
// Plumbing: undoable lab changes, actors, exchanges

/** Cleanup steps, run last first, each whatever the others do. */
class Undo {
  private readonly steps: Array<() => unknown> = [];

  push(step: () => unknown): void {
    this.steps.push(step);
  }

  async run(): Promise<unknown[]> {
    const errors: unknown[] = [];
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        errors.push(err);
      }
    }
    return errors;
  }
}

/** Runs a scenario, then its cleanup; the scenario's own failure is the one reported. */
async function withUndo<T>(scenario: (undo: Undo) => Promise<T>): Promise<T> {
  const undo = new Undo();
  let result: T;
  try {
    result = await scenario(undo);
  } catch (err) {
    await undo.run();
    throw err;
  }
  const errors = await undo.run();
  if (errors.length) throw new AggregateError(errors, 'scenario cleanup failed');
  return result;
}

function iptables(
  lab: Lab,
  undo: Undo,
  host: LabHost,
  table: 'filter' | 'nat',
  chain: string,
  rule: string[],
): void {
  lab.exec(host, ['iptables', '-t', table, '-I', chain, ...rule]);
  undo.push(() => lab.exec(host, ['iptables', '-t', table, '-D', chain, ...rule]));
}

function sysctl(lab: Lab, undo: Undo, host: LabHost, key: string, value: number): void {
  const before = lab.exec(host, ['sysctl', '-n', key]).trim();
  lab.exec(host, ['sysctl', '-qw', `${key}=${value}`]);
  undo.push(() => lab.exec(host, ['sysctl', '-qw', `${key}=${before}`]));
}

async function serve(
  lab: Lab,
  undo: Undo,
  host: LabHost,
  port: number,
  mode: string,
  extra: string[] = [],
): Promise<Actor> {
  const actor = Actor.serve(lab, host, port, mode, extra);
  undo.push(() => actor.kill());
  await actor.waitFor('listening');
  return actor;
}

function connect(
  lab: Lab,
  undo: Undo,
  host: LabHost,
  addr: string,
  port: number,
  extra: string[] = [],
): Actor {
  const actor = Actor.connect(lab, host, addr, port, extra);
  undo.push(() => actor.kill());
  return actor;
}

/**
 * Ends a server whose peer already lost the connection without a trace. A plain
 * exit would close the socket with a FIN, which the client's kernel (no socket
 * any more) or a router rule answers with a reset that belongs to no scenario.
 * So the server's segments from this port are dropped in its own OUTPUT chain
 * (a netfilter drop is no reset), and with tcp_orphan_retries=1 the orphaned
 * socket gives up its FIN after one retry, in well under a second, not ~100 s.
 */
async function retireSilently(lab: Lab, host: LabHost, port: number, server: Actor): Promise<void> {
  await withUndo(async (undo) => {
    const fromPort = ['-p', 'tcp', '--sport', String(port)];
    iptables(lab, undo, host, 'filter', 'OUTPUT', [...fromPort, '-j', 'DROP']);
    sysctl(lab, undo, host, 'net.ipv4.tcp_orphan_retries', 1);
    await exited(server);
    const deadline = performance.now() + 10_000;
    while (lab.exec(host, ['ss', '-Htan', `sport = :${port}`]).trim()) {
      if (performance.now() > deadline) {
        throw new Error(`sockets on port ${port} in ${host.ns} outlived their server`);
      }
      await sleep(100);
    }
  });
}

function exited(actor: Actor): Promise<void> {
  const { child } = actor;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  actor.kill();
  return done;
}

const ECHO_BYTES = 100;

/** Sends ECHO_BYTES and waits for all of them to come back; returns when they did. */
async function exchange(client: Actor): Promise<number> {
  if (!(await exchangeOrReset(client))) throw new Error('the exchange was reset');
  return performance.now();
}

/** Sends ECHO_BYTES; true once they are echoed back, false when the connection fails instead. */
async function exchangeOrReset(client: Actor): Promise<boolean> {
  const from = client.out.items.length;
  const echoed = () =>
    client.out.items
      .slice(from)
      .reduce((sum, e) => sum + (e.event === 'data' ? Number(e.bytes) : 0), 0);
  client.send(`send ${ECHO_BYTES}`);
  const outcome = await client.out.waitFor(
    (e) =>
      client.out.items.indexOf(e) >= from &&
      (e.event === 'error' || (e.event === 'data' && echoed() >= ECHO_BYTES)),
    'the echo or an error',
  );
  return outcome.event === 'data';
}

async function expectError(actor: Actor, code: string): Promise<void> {
  const error = await actor.waitFor('error');
  if (error.code !== code) throw new Error(`expected ${code}, got ${String(error.code)}`);
}

function acceptedFrom(server: Actor, clientPort: number): Promise<ActorEvent> {
  return server.out.waitFor(
    (e) => e.event === 'accepted' && e.remote_port === clientPort,
    `the server accepting port ${clientPort}`,
  );
}

function view(
  host: LabHost,
  localAddr: string,
  localPort: number,
  remoteAddr: string,
  remotePort: number,
): SocketView {
  return { host, localAddr, localPort, remoteAddr, remotePort };
}

/** The server's end from its actor's `accepted` event (dual-stack: v4-mapped addresses). */
function serverView(host: LabHost, accepted: ActorEvent): SocketView {
  const v4 = (addr: unknown) => String(addr).replace(/^::ffff:/, '');
  return view(
    host,
    v4(accepted.local_address),
    Number(accepted.local_port),
    v4(accepted.remote_address),
    Number(accepted.remote_port),
  );
}
