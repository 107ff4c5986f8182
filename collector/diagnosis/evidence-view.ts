// reset_evidence: one row per stored reset with what can be read off that row
// alone: an id, hop distances from TTLs, the idle period, and the keys that
// find the same reset at the other end of the flow (flow-matching.ts), and who
// each end is by name (flow-end-columns.ts).
import { FLOW_END_COLUMNS } from './flow-end-columns.js';

/** A RST from a host that sent it with initial TTL t arrives with t - hops + 1. */
function hopDistance(ttl: string): string {
  // Stacks start at 64 (Linux, macOS), 128 (Windows) or 255 (network gear): the
  // smallest of those at or above what arrived is the one it started from.
  // Traceroute terms: a sender on the same link is hop 1, one router away hop 2.
  return `if(${ttl} IS NULL, NULL, toUInt8(multiIf(${ttl} <= 64, 64, ${ttl} <= 128, 128, 255) - ${ttl} + 1))`;
}

// Text columns are LowCardinality on disk; here they become plain strings, since
// ClickHouse refuses views whose derived flags would come out LowCardinality(UInt8).
const plain = (column: string) => `CAST(${column} AS String)`;

/** Whether the triggering segment carried a TCP flag ("SYN", "PSH|ACK", ...). */
const flag = (name: string) =>
  `CAST(has(splitByChar('|', ifNull(trigger_flags, '')), '${name}') AS Bool)`;

/** Sequence arithmetic wraps at 2^32. */
const u32 = (expr: string) => `toUInt32(bitAnd(${expr}, 4294967295))`;

/** A stored reset's id: its batch's message id and its position in the batch. */
export const EVENT_ID = `concat(batch_id, '/', toString(batch_index))`;

/** Columns of resets as they are, and as plain strings. */
const kept = (...names: string[]): [string, string][] => names.map((n) => [n, n]);
const text = (...names: string[]): [string, string][] => names.map((n) => [n, plain(n)]);

// [name, expression], in order; later expressions may use earlier names.
const COLUMNS: readonly [string, string][] = [
  ['event_id', EVENT_ID],
  ['ts', 'ts'],
  ...text('host', 'boot_id', 'direction', 'reason'),
  ['accepted', 'accepted'],
  ['drop_reason', 'CAST(drop_reason AS Nullable(String))'],
  ...text('state', 'prev_state', 'family'),
  ...kept('local_addr', 'local_port', 'remote_addr', 'remote_port', 'netns', 'sock_cookie'),
  ...kept('cgroup_id', 'pid'),
  ...text('comm', 'pid_source'),
  ...kept('unread_bytes', 'unsent_bytes', 'linger_on', 'linger_s', 'last_sent_ms'),
  ...kept('last_recv_ms', 'survived_idle_ms', 'conn_age_ms', 'srtt_us', 'snd_una', 'snd_nxt'),
  ...kept('rcv_nxt', 'isn_local', 'isn_remote', 'isn_exact'),
  ['trigger_flags', 'CAST(trigger_flags AS Nullable(String))'],
  ...kept('trigger_seq', 'trigger_ack', 'rst_ttl', 'rst_ip_id', 'rst_seq', 'rst_ack'),
  ...kept('rst_window', 'peer_ttl'),
  ['has_socket', 'CAST(sock_cookie != 0 AS Bool)'],
  ['reason_known', `CAST(reason NOT IN ('UNKNOWN', 'NOT_SPECIFIED') AS Bool)`],
  ['has_trigger', 'CAST(trigger_flags IS NOT NULL AS Bool)'],
  ['trigger_syn', flag('SYN')],
  ['trigger_ack_flag', flag('ACK')],
  ['trigger_fin', flag('FIN')],
  ['hop_distance', hopDistance('rst_ttl')],
  ['peer_hop_distance', hopDistance('peer_ttl')],
  // RFC 5961: an RST is taken only at exactly rcv_nxt (in SYN_SENT: acking our SYN).
  [
    'seq_exact',
    `CAST(if(direction = 'received' AND rst_seq IS NOT NULL,
            if(state = 'SYN_SENT', rst_ack = snd_nxt, rst_seq = rcv_nxt), NULL)
         AS Nullable(Bool))`,
  ],
  // The silence before the reset: time since the socket last received a segment.
  // Handshake states and resets without a socket have no idle period.
  [
    'idle_ms',
    `if(has_socket AND state NOT IN ('SYN_SENT', 'SYN_RECV', 'NEW_SYN_RECV', 'LISTEN'),
       last_recv_ms, NULL)`,
  ],
  // The RST as it was on the wire. Received: what arrived. Sent by an active
  // reset (no triggering segment): seq snd_nxt, ack rcv_nxt. Sent in reply to a
  // segment (RFC 793): seq = its ACK if it had one, else seq 0 and ack = its seq
  // + SYN + FIN (+ payload, which is not recorded: zero for SYNs and bare FINs).
  [
    'wire_seq',
    `if(direction = 'received', rst_seq,
       multiIf(NOT has_trigger, if(has_socket, snd_nxt, NULL),
               trigger_ack_flag, trigger_ack, toUInt32(0)))`,
  ],
  [
    'wire_ack',
    `if(direction = 'received', rst_ack,
       multiIf(NOT has_trigger, if(has_socket, rcv_nxt, NULL),
               trigger_ack_flag, toUInt32(0),
               ${u32('trigger_seq + trigger_syn + trigger_fin')}))`,
  ],
  // Matching keys, 0 when absent; each is the same number at both ends.
  [
    'key_rst',
    `if(wire_seq IS NULL OR (wire_seq = 0 AND wire_ack = 0), 0,
       cityHash64('rst', wire_seq, ifNull(wire_ack, 0)))`,
  ],
  [
    'key_isn',
    `if(isn_local = 0 OR isn_remote = 0, 0,
       cityHash64('isn', least(isn_local, isn_remote), greatest(isn_local, isn_remote)))`,
  ],
  [
    'key_tuple',
    `if(direction = 'received',
       cityHash64('tuple', toString(local_addr), local_port, toString(remote_addr), remote_port),
       cityHash64('tuple', toString(remote_addr), remote_port, toString(local_addr), local_port))`,
  ],
  ...FLOW_END_COLUMNS,
];

/** The columns reset_evidence gives, for views that join it and must name them. */
export const EVIDENCE_COLUMNS: readonly string[] = COLUMNS.map(([name]) => name);

export const RESET_EVIDENCE_VIEW = `
SELECT
    ${COLUMNS.map(([name, expr]) => (name === expr ? name : `${expr} AS ${name}`)).join(',\n    ')}
FROM resets`;
