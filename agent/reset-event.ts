// One TCP reset as rstscope reports it: the JSON of `rstscope agent --json`
// and, column for column, the ClickHouse `resets` table (snake_case). The agent
// reads it from the wire event it decoded: only printing pays for the text.
import type { WireResetEvent } from '../proto/index.js';
import { formatTimestamp } from '../proto/timestamps.js';

export type Direction = 'sent' | 'received';
export type PidSource = 'context' | 'owner' | 'none';

export interface ResetEvent {
  /** Wall-clock time of the reset, RFC 3339 with nanoseconds, UTC. */
  ts: string;
  host: string;
  boot_id: string;
  direction: Direction;
  /** enum sk_rst_reason without its prefix; UNKNOWN for received resets and old kernels. */
  reason: string;
  /** Received: whether the RST tore the connection down (false: discarded). */
  accepted: boolean;
  /** Why TCP discarded a received RST (enum skb_drop_reason), else null. */
  drop_reason: string | null;
  state: string;
  prev_state: string;
  family: 'ipv4' | 'ipv6';
  local_addr: string;
  local_port: number;
  remote_addr: string;
  remote_port: number;
  netns: number;
  sock_cookie: string;
  cgroup_id: string;
  pid: number;
  tid: number;
  comm: string;
  /** 'context': the reset happened in this process; 'owner': recorded earlier. */
  pid_source: PidSource;
  bytes_acked: number;
  bytes_received: number;
  segs_in: number;
  segs_out: number;
  total_retrans: number;
  srtt_us: number;
  snd_una: number;
  snd_nxt: number;
  rcv_nxt: number;
  isn_local: number;
  isn_remote: number;
  /** ISNs recorded at the handshake (true) or derived from the byte counters. */
  isn_exact: boolean;
  unread_bytes: number;
  unsent_bytes: number;
  linger_on: boolean;
  linger_s: number;
  last_sent_ms: number | null;
  last_recv_ms: number | null;
  /**
   * The longest silence the connection lived through: the largest gap between two
   * ordinary (non-RST) segments it received while ESTABLISHED, milliseconds. Null
   * when the agent saw fewer than two.
   */
  survived_idle_ms: number | null;
  conn_age_ms: number | null;
  /** Sent: the segment that triggered the reset (NO_SOCKET and other replies). */
  trigger_flags: string | null;
  trigger_seq: number | null;
  trigger_ack: number | null;
  /** Received: the RST packet's own evidence. */
  rst_ttl: number | null;
  rst_ip_id: number | null;
  rst_seq: number | null;
  rst_ack: number | null;
  rst_window: number | null;
  /** TTL (hop limit) of the peer's last ordinary segment on this socket. */
  peer_ttl: number | null;
  // The pod behind the local end, in Kubernetes (`rstscope agent --kube`).
  // Present, all eight, only when the agent named one: absent is unknown.
  pod_uid?: string;
  pod_name?: string;
  pod_namespace?: string;
  container_name?: string;
  /** The runtime's container id, without its containerd:// or cri-o:// scheme. */
  container_id?: string;
  /** Kind/name of the owning workload (Deployment/checkout); Pod/<name> for a bare pod. */
  workload?: string;
  pod_labels?: Record<string, string>;
  /** How the pod was found: 'cgroup' (the socket's or process's cgroup) or 'address' (local_addr is its IP). */
  pod_source?: string;
}

/** The printed form of a decoded wire event; host and boot id travel per batch on the wire. */
export function toResetEvent(e: WireResetEvent, host: string, bootId: string): ResetEvent {
  const event = printedFields(e, host, bootId);
  if (e.pod_source !== '') {
    event.pod_uid = e.pod_uid;
    event.pod_name = e.pod_name;
    event.pod_namespace = e.pod_namespace;
    event.container_name = e.container_name;
    event.container_id = e.container_id;
    event.workload = e.workload;
    event.pod_labels = e.pod_labels;
    event.pod_source = e.pod_source;
  }
  return event;
}

function printedFields(e: WireResetEvent, host: string, bootId: string): ResetEvent {
  return {
    ts: formatTimestamp(BigInt(e.ts_unix_ns)),
    host,
    boot_id: bootId,
    direction: e.direction as Direction,
    reason: e.reason,
    accepted: e.accepted,
    drop_reason: e.drop_reason ?? null,
    state: e.state,
    prev_state: e.prev_state,
    family: e.family as ResetEvent['family'],
    local_addr: e.local_addr,
    local_port: e.local_port,
    remote_addr: e.remote_addr,
    remote_port: e.remote_port,
    netns: e.netns,
    sock_cookie: e.sock_cookie,
    cgroup_id: e.cgroup_id,
    pid: e.pid,
    tid: e.tid,
    comm: e.comm,
    pid_source: e.pid_source as PidSource,
    bytes_acked: Number(e.bytes_acked),
    bytes_received: Number(e.bytes_received),
    segs_in: e.segs_in,
    segs_out: e.segs_out,
    total_retrans: e.total_retrans,
    srtt_us: e.srtt_us,
    snd_una: e.snd_una,
    snd_nxt: e.snd_nxt,
    rcv_nxt: e.rcv_nxt,
    isn_local: e.isn_local,
    isn_remote: e.isn_remote,
    isn_exact: e.isn_exact,
    unread_bytes: e.unread_bytes,
    unsent_bytes: e.unsent_bytes,
    linger_on: e.linger_on,
    linger_s: e.linger_s,
    last_sent_ms: e.last_sent_ms ?? null,
    last_recv_ms: e.last_recv_ms ?? null,
    survived_idle_ms: e.survived_idle_ms ?? null,
    conn_age_ms: e.conn_age_ms ?? null,
    trigger_flags: e.trigger_flags ?? null,
    trigger_seq: e.trigger_seq ?? null,
    trigger_ack: e.trigger_ack ?? null,
    rst_ttl: e.rst_ttl ?? null,
    rst_ip_id: e.rst_ip_id ?? null,
    rst_seq: e.rst_seq ?? null,
    rst_ack: e.rst_ack ?? null,
    rst_window: e.rst_window ?? null,
    peer_ttl: e.peer_ttl ?? null,
  };
}
