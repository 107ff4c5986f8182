// Reset and heartbeat rows made by hand, in the shape the agent records them on
// this kernel, for tests of the SQL built on the tables (diagnosis views,
// dashboards) that need no lab. Host "cli" (10.1.0.2) talks to "srv" (10.2.0.2).
import type { Row } from '../../collector/storage/storage.js';

let seq = 0;
export const T0 = Date.parse('2026-11-21T10:00:00Z');

/** T0 + ms as DateTime64 text. */
export const rowTime = (ms: number) =>
  new Date(T0 + ms).toISOString().replace('T', ' ').replace('Z', '');
export const v4 = (a: string) => `::ffff:${a}`;

/** A reset row with the columns every row has; scenarios override the rest. */
export function resetRow(fields: Row): Row {
  seq++;
  return {
    boot_id: 'b',
    accepted: true,
    family: 'ipv4',
    netns: 1,
    prev_state: 'ESTABLISHED',
    pid_source: 'none',
    comm: '',
    reason: 'UNKNOWN',
    batch_id: `${String(fields.host)}/b/1/${seq}`,
    batch_index: 0,
    ...fields,
  };
}

/** A heartbeat covering `addresses` from fromMs to toMs; `extra` sets counters and the rest. */
export function heartbeatRow(
  host: string,
  addresses: string[],
  fromMs: number,
  toMs: number,
  extra: Row = {},
): Row {
  return {
    ts: rowTime(toMs),
    host,
    boot_id: 'b',
    run_id: 1,
    agent_version: 't',
    kernel_release: 't',
    addresses: addresses.map(v4),
    netns: [1],
    netns_names: [''],
    all_netns: false,
    covered_from: rowTime(fromMs),
    interval_s: 10,
    ...extra,
  };
}

/** A SYN to a closed port of srv: its NO_SOCKET reply, and cli receiving it in SYN_SENT. */
export function closedPortPair(): Row[] {
  return [
    resetRow({
      ts: rowTime(1000),
      host: 'srv',
      direction: 'sent',
      reason: 'NO_SOCKET',
      state: 'CLOSE',
      local_addr: v4('10.2.0.2'),
      local_port: 7001,
      remote_addr: v4('10.1.0.2'),
      remote_port: 40001,
      trigger_flags: 'SYN',
      trigger_seq: 1000,
      trigger_ack: 0,
    }),
    resetRow({
      ts: rowTime(1001),
      host: 'cli',
      direction: 'received',
      state: 'SYN_SENT',
      local_addr: v4('10.1.0.2'),
      local_port: 40001,
      remote_addr: v4('10.2.0.2'),
      remote_port: 7001,
      sock_cookie: 5,
      isn_local: 1000,
      snd_una: 1000,
      snd_nxt: 1001,
      rst_ttl: 63,
      rst_seq: 0,
      rst_ack: 1001,
    }),
  ];
}

/** cli's reset in SYN_SENT from a connect to remote:port, with the RST's TTL. */
export function synSentReset(o: { ms: number; port: number; ttl: number; remote: string }): Row {
  return resetRow({
    ts: rowTime(o.ms),
    host: 'cli',
    direction: 'received',
    state: 'SYN_SENT',
    local_addr: v4('10.1.0.2'),
    local_port: 40000 + o.port,
    remote_addr: v4(o.remote),
    remote_port: o.port,
    sock_cookie: 5,
    isn_local: 7 * o.port,
    snd_una: 7 * o.port,
    snd_nxt: 7 * o.port + 1,
    rst_ttl: o.ttl,
    rst_seq: 0,
    rst_ack: 7 * o.port + 1,
  });
}

/** The client's received reset on an established flow to 10.2.0.2. */
export function clientReset(o: {
  ms: number;
  remote?: string;
  port: number;
  clientPort: number;
  rstSeq: number;
  rstAck: number;
  ttl: number;
  idleMs?: number;
  survivedMs?: number;
}): Row {
  return resetRow({
    ts: rowTime(o.ms),
    host: 'cli',
    direction: 'received',
    state: 'ESTABLISHED',
    local_addr: v4('10.1.0.2'),
    local_port: o.clientPort,
    remote_addr: v4(o.remote ?? '10.2.0.2'),
    remote_port: o.port,
    sock_cookie: 5,
    isn_local: o.clientPort * 11,
    isn_remote: o.clientPort * 13,
    isn_exact: true,
    snd_nxt: o.rstAck,
    rcv_nxt: o.rstSeq,
    last_recv_ms: o.idleMs ?? 20,
    last_sent_ms: 0,
    survived_idle_ms: o.survivedMs ?? null,
    rst_ttl: o.ttl,
    peer_ttl: 63,
    rst_seq: o.rstSeq,
    rst_ack: o.rstAck,
  });
}

/** The server aborts (SO_LINGER 0); its RST reaches the client. natPort: SNAT in between. */
export function abortPair(o: {
  ms: number;
  port: number;
  clientPort: number;
  survivedMs?: number;
  natPort?: number;
}): Row[] {
  const seq = o.clientPort * 17;
  const ack = o.clientPort * 19;
  return [
    resetRow({
      ts: rowTime(o.ms),
      host: 'srv',
      direction: 'sent',
      reason: 'TCP_STATE',
      state: 'CLOSE',
      local_addr: v4('10.2.0.2'),
      local_port: o.port,
      remote_addr: v4(o.natPort ? '10.2.0.1' : '10.1.0.2'),
      remote_port: o.natPort ?? o.clientPort,
      sock_cookie: 77,
      linger_on: true,
      linger_s: 0,
      pid: 4242,
      comm: 'server',
      pid_source: 'context',
      isn_local: o.clientPort * 13,
      isn_remote: o.clientPort * 11,
      snd_nxt: seq,
      rcv_nxt: ack,
    }),
    clientReset({ ...o, rstSeq: seq, rstAck: ack, ttl: 63 }),
  ];
}

/** The router's RST when a flow resumes after idleMs: TTL 64, one hop from the client. */
export function idleKill(o: { ms: number; clientPort: number; idleMs: number }): Row {
  return clientReset({
    ms: o.ms,
    port: 7010,
    clientPort: o.clientPort,
    rstSeq: o.clientPort * 23,
    rstAck: 0,
    ttl: 64,
    idleMs: o.idleMs,
    survivedMs: 1000,
  });
}

// Kubernetes: resets between named pods, as a collector with attribution
// stores them (the local_* and remote_* columns) and as the agent found its own
// pod (pod_* columns). checkout (namespace shop, node-a) calls the service
// shop/payments through its ClusterIP; payments-0 (node-b) serves it. invoicer
// (namespace billing, node-c) talks to ledger-0 (node-d) at its endpoint.

/** One end by name, as resets' local_* / remote_* columns hold it. */
export interface NamedEnd {
  kind: 'pod' | 'service' | 'node' | 'inventory';
  namespace?: string;
  name: string;
  workload?: string;
  services?: string[];
}

export const CHECKOUT: NamedEnd = {
  kind: 'pod',
  namespace: 'shop',
  name: 'checkout-7d9f8-abcde',
  workload: 'Deployment/checkout',
};
export const PAYMENTS_CLUSTER_IP: NamedEnd = {
  kind: 'service',
  namespace: 'shop',
  name: 'payments',
  services: ['shop/payments'],
};
export const PAYMENTS_0: NamedEnd = {
  kind: 'pod',
  namespace: 'shop',
  name: 'payments-0',
  workload: 'StatefulSet/payments',
  services: ['shop/payments'],
};
export const INVOICER: NamedEnd = {
  kind: 'pod',
  namespace: 'billing',
  name: 'invoicer-5c6b7-xyz12',
  workload: 'Deployment/invoicer',
};
export const LEDGER_0: NamedEnd = {
  kind: 'pod',
  namespace: 'billing',
  name: 'ledger-0',
  workload: 'StatefulSet/ledger',
  services: ['billing/ledger', 'billing/ledger-read'],
};

export const ADDR = {
  checkout: '10.244.1.5',
  paymentsClusterIp: '10.96.0.20',
  payments0: '10.244.2.7',
  invoicer: '10.244.3.4',
  ledger0: '10.244.4.9',
} as const;

export function endColumns(end: 'local' | 'remote', e: NamedEnd): Row {
  return {
    [`${end}_kind`]: e.kind,
    [`${end}_namespace`]: e.namespace ?? '',
    [`${end}_name`]: e.name,
    [`${end}_workload`]: e.workload ?? '',
    [`${end}_services`]: e.services ?? [],
  };
}

/** The agent's pod fields for a socket of pod `e` (found by its cgroup). */
export function agentPod(e: NamedEnd, container: string): Row {
  return {
    pod_uid: `uid-${e.name}`,
    pod_name: e.name,
    pod_namespace: e.namespace ?? '',
    container_name: container,
    container_id: `cid-${e.name}`,
    workload: e.workload ?? '',
    pod_labels: { app: container },
    pod_source: 'cgroup',
  };
}

/**
 * payments-0 aborts (SO_LINGER 0) a flow checkout opened to the ClusterIP:
 * payments-0 saw checkout's pod address, checkout saw the ClusterIP.
 */
export function clusterIpAbortPair(o: { ms: number; clientPort: number }): Row[] {
  const seq = o.clientPort * 29;
  const ack = o.clientPort * 31;
  return [
    resetRow({
      ts: rowTime(o.ms),
      host: 'node-b',
      direction: 'sent',
      reason: 'TCP_STATE',
      state: 'CLOSE',
      local_addr: v4(ADDR.payments0),
      local_port: 8080,
      remote_addr: v4(ADDR.checkout),
      remote_port: o.clientPort,
      sock_cookie: 81,
      linger_on: true,
      linger_s: 0,
      pid: 5151,
      comm: 'payments',
      pid_source: 'context',
      snd_nxt: seq,
      rcv_nxt: ack,
      ...agentPod(PAYMENTS_0, 'payments'),
      ...endColumns('local', PAYMENTS_0),
      ...endColumns('remote', CHECKOUT),
    }),
    resetRow({
      ts: rowTime(o.ms + 1),
      host: 'node-a',
      direction: 'received',
      state: 'ESTABLISHED',
      local_addr: v4(ADDR.checkout),
      local_port: o.clientPort,
      remote_addr: v4(ADDR.paymentsClusterIp),
      remote_port: 8080,
      sock_cookie: 82,
      snd_nxt: ack,
      rcv_nxt: seq,
      last_recv_ms: 15,
      last_sent_ms: 0,
      rst_ttl: 63,
      peer_ttl: 63,
      rst_seq: seq,
      rst_ack: ack,
      ...agentPod(CHECKOUT, 'checkout'),
      ...endColumns('local', CHECKOUT),
      ...endColumns('remote', PAYMENTS_CLUSTER_IP),
    }),
  ];
}

/**
 * invoicer's flow to ledger-0's endpoint reset by something one hop away (TTL
 * 64 where ledger-0's segments arrive with 63) after 9 s idle, while node-d's
 * agent watched ledger-0's address and sent nothing: injected.
 */
export function endpointInjected(o: { ms: number; clientPort: number }): Row {
  return resetRow({
    ts: rowTime(o.ms),
    host: 'node-c',
    direction: 'received',
    state: 'ESTABLISHED',
    local_addr: v4(ADDR.invoicer),
    local_port: o.clientPort,
    remote_addr: v4(ADDR.ledger0),
    remote_port: 5432,
    sock_cookie: 91,
    snd_nxt: 7,
    rcv_nxt: o.clientPort * 37,
    last_recv_ms: 9000,
    last_sent_ms: 0,
    rst_ttl: 64,
    peer_ttl: 63,
    rst_seq: o.clientPort * 37,
    rst_ack: 0,
    ...agentPod(INVOICER, 'invoicer'),
    ...endColumns('local', INVOICER),
    ...endColumns('remote', LEDGER_0),
  });
}

/** node-d's heartbeat: its agent watched ledger-0's address through the first minute. */
export function ledgerWatch(): Row {
  return heartbeatRow('node-d', [ADDR.ledger0], 0, 60_000);
}
