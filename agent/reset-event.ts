// One TCP reset as rstscope reports it: the JSON of `rstscope agent --json`
// and, column for column, the ClickHouse `resets` table (snake_case).

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
}
