// reset_evidence: one row per stored reset with what can be read off that row
// alone: an id, hop distances from TTLs, the idle period, and the keys that
// find the same reset at the other end of the flow (flow-matching.ts).

/** A RST from a host that sent it with initial TTL t arrives with t - hops + 1. */
function hopDistance(ttl: string): string {
  // Stacks start at 64 (Linux, macOS), 128 (Windows) or 255 (network gear): the
  // smallest of those at or above what arrived is the one it started from.
  // Traceroute terms: a sender on the same link is hop 1, one router away hop 2.
  return `if(${ttl} IS NULL, NULL, toUInt8(multiIf(${ttl} <= 64, 64, ${ttl} <= 128, 128, 255) - ${ttl} + 1))`;
}

// Text columns are LowCardinality on disk; here they become plain strings, since
// ClickHouse refuses views whose derived flags would come out LowCardinality(UInt8).
const plain = (columns: string[]) => columns.map((c) => `CAST(${c} AS String) AS ${c}`).join(', ');

/** Whether the triggering segment carried a TCP flag ("SYN", "PSH|ACK", ...). */
const flag = (name: string) =>
  `CAST(has(splitByChar('|', ifNull(trigger_flags, '')), '${name}') AS Bool)`;

/** Sequence arithmetic wraps at 2^32. */
const u32 = (expr: string) => `toUInt32(bitAnd(${expr}, 4294967295))`;

/** The columns reset_evidence gives, for views that join it and must name them. */
export const EVIDENCE_COLUMNS = [
  'event_id',
  'ts',
  'host',
  'boot_id',
  'direction',
  'reason',
  'accepted',
  'drop_reason',
  'state',
  'prev_state',
  'family',
  'local_addr',
  'local_port',
  'remote_addr',
  'remote_port',
  'netns',
  'sock_cookie',
  'cgroup_id',
  'pid',
  'comm',
  'pid_source',
  'unread_bytes',
  'unsent_bytes',
  'linger_on',
  'linger_s',
  'last_sent_ms',
  'last_recv_ms',
  'survived_idle_ms',
  'conn_age_ms',
  'srtt_us',
  'snd_una',
  'snd_nxt',
  'rcv_nxt',
  'isn_local',
  'isn_remote',
  'isn_exact',
  'trigger_flags',
  'trigger_seq',
  'trigger_ack',
  'rst_ttl',
  'rst_ip_id',
  'rst_seq',
  'rst_ack',
  'rst_window',
  'peer_ttl',
  'has_socket',
  'reason_known',
  'trigger_syn',
  'trigger_ack_flag',
  'trigger_fin',
  'hop_distance',
  'peer_hop_distance',
  'seq_exact',
  'idle_ms',
  'wire_seq',
  'wire_ack',
  'key_rst',
  'key_isn',
  'key_tuple',
] as const;

export const RESET_EVIDENCE_VIEW = `
SELECT
    concat(batch_id, '/', toString(batch_index)) AS event_id,
    ts, ${plain(['host', 'boot_id', 'direction', 'reason'])}, accepted,
    CAST(drop_reason AS Nullable(String)) AS drop_reason,
    ${plain(['state', 'prev_state', 'family'])},
    local_addr, local_port, remote_addr, remote_port, netns, sock_cookie, cgroup_id,
    pid, ${plain(['comm', 'pid_source'])}, unread_bytes, unsent_bytes, linger_on, linger_s,
    last_sent_ms, last_recv_ms, survived_idle_ms, conn_age_ms, srtt_us,
    snd_una, snd_nxt, rcv_nxt, isn_local, isn_remote, isn_exact,
    CAST(trigger_flags AS Nullable(String)) AS trigger_flags, trigger_seq, trigger_ack,
    rst_ttl, rst_ip_id, rst_seq, rst_ack, rst_window, peer_ttl,
    CAST(sock_cookie != 0 AS Bool) AS has_socket,
    CAST(reason NOT IN ('UNKNOWN', 'NOT_SPECIFIED') AS Bool) AS reason_known,
    ${flag('SYN')} AS trigger_syn,
    ${flag('ACK')} AS trigger_ack_flag,
    ${flag('FIN')} AS trigger_fin,
    ${hopDistance('rst_ttl')} AS hop_distance,
    ${hopDistance('peer_ttl')} AS peer_hop_distance,
    -- RFC 5961: an RST is taken only at exactly rcv_nxt (in SYN_SENT: acking our SYN).
    CAST(if(direction = 'received' AND rst_seq IS NOT NULL,
            if(state = 'SYN_SENT', rst_ack = snd_nxt, rst_seq = rcv_nxt), NULL)
         AS Nullable(Bool)) AS seq_exact,
    -- The silence before the reset: time since the socket last received a segment.
    -- Handshake states and resets without a socket have no idle period.
    if(has_socket AND state NOT IN ('SYN_SENT', 'SYN_RECV', 'NEW_SYN_RECV', 'LISTEN'),
       last_recv_ms, NULL) AS idle_ms,
    -- The RST as it was on the wire. Received: what arrived. Sent by an active
    -- reset (no triggering segment): seq snd_nxt, ack rcv_nxt. Sent in reply to a
    -- segment (RFC 793): seq = its ACK if it had one, else seq 0 and ack = its seq
    -- + SYN + FIN (+ payload, which is not recorded: zero for SYNs and bare FINs).
    if(direction = 'received', rst_seq,
       multiIf(trigger_flags IS NULL, if(has_socket, snd_nxt, NULL),
               trigger_ack_flag, trigger_ack, toUInt32(0))) AS wire_seq,
    if(direction = 'received', rst_ack,
       multiIf(trigger_flags IS NULL, if(has_socket, rcv_nxt, NULL),
               trigger_ack_flag, toUInt32(0),
               ${u32('trigger_seq + trigger_syn + trigger_fin')})) AS wire_ack,
    -- Matching keys, 0 when absent; each is the same number at both ends.
    if(wire_seq IS NULL OR (wire_seq = 0 AND wire_ack = 0), 0,
       cityHash64('rst', wire_seq, ifNull(wire_ack, 0))) AS key_rst,
    if(isn_local = 0 OR isn_remote = 0, 0,
       cityHash64('isn', least(isn_local, isn_remote), greatest(isn_local, isn_remote))) AS key_isn,
    if(direction = 'received',
       cityHash64('tuple', toString(local_addr), local_port, toString(remote_addr), remote_port),
       cityHash64('tuple', toString(remote_addr), remote_port, toString(local_addr), local_port))
       AS key_tuple
FROM resets`;
