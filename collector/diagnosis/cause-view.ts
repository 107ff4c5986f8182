// reset_causes: every stored reset with its origin, its cause and the evidence.
//
// Origin (docs/diagnosis.md):
//   local    — this host's stack sent it (a sent reset).
//   peer     — the other end's stack sent it: its agent recorded the matching sent reset.
//   injected — the other end is watched (an agent's heartbeats cover its address at
//              that time) and its stack sent nothing that matches; or the matching
//              reset came from a host that is not the peer (duplicate address).
//   unknown  — the other end is not watched.
//
// The cause of a reset is read from the stack that sent it: for a received reset
// with a match, the sender's row decides, so both ends of a flow agree. Without a
// sender (injected, unknown) only the receiving end's evidence is left.
import { quoteString } from '../storage/ddl.js';
import { addressText } from './address-sql.js';
import { CAUSES } from './causes.js';
import { watchersOf } from './coverage-view.js';
import { EVIDENCE_COLUMNS } from './evidence-view.js';
import { FLOW_END_NAMES } from './flow-end-columns.js';
import { MATCH_TOLERANCE_S, resetPairsSelect } from './flow-matching.js';

/** A silence shorter than this was not an idle timer's doing: no middlebox times out that fast. */
export const IDLE_KILL_MIN_MS = 1000;

const FIN_STATES = `('FIN_WAIT1', 'FIN_WAIT2', 'CLOSING')`;
const PROTOCOL_REASONS = `('TCP_INVALID_ACK_SEQUENCE', 'TCP_RFC7323_PAWS', 'TCP_TOO_OLD_ACK',
    'TCP_ACK_UNSENT_DATA', 'TCP_FLAGS', 'TCP_OLD_ACK', 'TCP_TIMEWAIT_SOCKET', 'INVALID_SYN', 'ERROR')`;

const list = (values: readonly string[]) => `[${values.map(quoteString).join(', ')}]`;

// The sender's evidence: our own row for a sent reset, the peer's for a received one.
const SENDER_FIELDS = [
  'host',
  'reason',
  'reason_known',
  'state',
  'prev_state',
  'has_socket',
  'trigger_syn',
  'trigger_ack_flag',
  'has_trigger',
  'unread_bytes',
  'linger_on',
  'linger_s',
  'pid_source',
  'pid',
  'comm',
  'local_addr',
];
const senderColumns = SENDER_FIELDS.map(
  (f) => `if(e.direction = 'sent', e.${f}, p.${f}) AS s_${f}`,
).join(',\n           ');

// Picks the cause from what the sending stack recorded; with a kernel reason the
// reason decides, without one (kernels before 6.10) the socket's state does.
const SENDER_CAUSE = `multiIf(
    impostor, 'not_the_peer',
    s_has_socket AND s_state IN ('LISTEN', 'NEW_SYN_RECV', 'SYN_RECV')
        AND s_trigger_ack_flag AND NOT s_trigger_syn, 'backlog_overflow',
    s_reason = 'NO_SOCKET' OR (NOT s_reason_known AND NOT s_has_socket),
        if(s_trigger_syn, 'closed_port', 'peer_lost_state'),
    s_reason = 'TCP_ABORT_ON_CLOSE'
        OR (NOT s_reason_known AND NOT s_has_trigger AND s_unread_bytes > 0), 'close_unread_data',
    s_reason IN ('TCP_STATE', 'TCP_ABORT_ON_LINGER', 'TCP_DISCONNECT_WITH_DATA')
        OR (NOT s_reason_known AND NOT s_has_trigger AND s_linger_on AND s_linger_s = 0),
        'app_abort_linger',
    s_reason = 'TCP_ABORT_ON_DATA'
        OR (NOT s_reason_known AND s_has_trigger
            AND (s_state IN ${FIN_STATES} OR s_prev_state IN ${FIN_STATES})), 'data_after_close',
    s_reason = 'TCP_KEEPALIVE_TIMEOUT'
        OR (NOT s_reason_known AND NOT s_has_trigger AND s_pid_source != 'context'
            AND s_state IN ('ESTABLISHED', 'CLOSE_WAIT')), 'keepalive_timeout',
    s_reason = 'TCP_ABORT_ON_MEMORY', 'memory_pressure',
    s_reason IN ${PROTOCOL_REASONS} OR startsWith(s_reason, 'MPTCP_')
        OR (NOT s_reason_known AND s_has_trigger), 'protocol_violation',
    'unclassified')`;

// Without a sender: the receiving end's state, TTLs and silence.
const RECEIVER_CAUSE = `multiIf(
    state = 'SYN_SENT', if(origin = 'injected', 'firewall_reject', 'closed_port'),
    origin = 'injected' OR ttl_mismatch,
        if(ifNull(idle_ms, 0) >= ${IDLE_KILL_MIN_MS}, 'idle_timeout', 'conntrack_invalid'),
    'unclassified')`;

const DETAIL = `multiIf(
    cause IN ('close_unread_data', 'app_abort_linger', 'data_after_close'),
        format('{} (pid {}) on {}{}', s_comm, toString(s_pid), s_host,
               if(cause = 'close_unread_data', format(' closed with {} unread bytes', toString(s_unread_bytes)),
                  if(cause = 'app_abort_linger', ' aborted the connection', ' had closed the socket'))),
    cause = 'not_the_peer',
        format('{} answered for {}, which {} holds', s_host, ${addressText('s_local_addr')},
               arrayStringConcat(arrayFilter(h -> h != s_host, s_addr_watchers), ', ')),
    cause = 'idle_timeout', format('after {} s idle', toDecimalString(idle_ms / 1000, 1)),
    cause IN ('firewall_reject', 'conntrack_invalid') AND hop_distance IS NOT NULL,
        format('injected {} hop{} from {}', toString(hop_distance), if(hop_distance = 1, '', 's'), host),
    cause = 'closed_port', format('nothing listened on {} port {}',
        if(direction = 'sent', host, ${addressText('remote_addr')}),
        toString(if(direction = 'sent', local_port, remote_port))),
    '')`;

/**
 * How far in time a reset's diagnosis reaches: a received reset's peer is
 * within the match tolerance, a sent reset's receivers too, and each of those
 * receivers weighed every sent reset within the tolerance of itself; a row
 * whose peer is the reset reads that peer's diagnosis inputs. Three tolerances
 * cover every row a reset's diagnosis, or its peer's, can depend on.
 */
export const DIAGNOSIS_REACH_S = 3 * MATCH_TOLERANCE_S;

/**
 * reset_causes, over every stored reset (the view), or over the resets that
 * satisfy `scope`, a condition on reset_evidence's columns. A scoped diagnosis
 * is the view's for every reset at least DIAGNOSIS_REACH_S inside the scope's
 * time span (all rows within that reach of it satisfy the scope): what the
 * query service uses to diagnose one flow or one window without the rest.
 */
export function resetCausesSelect(scope?: string): string {
  const [evidence, matched] = scope
    ? ['scoped_evidence', 'scoped_pairs']
    : ['reset_evidence', 'reset_pairs'];
  const scoped = scope
    ? `scoped_evidence AS (SELECT * FROM reset_evidence WHERE ${scope}),
    scoped_pairs AS (${resetPairsSelect(evidence)}),
    `
    : '';
  return `
WITH
    ${scoped}pairs AS (
        SELECT received_id AS event_id, sent_id AS peer_id, rule FROM ${matched}
        UNION ALL
        SELECT sent_id AS event_id, any(received_id) AS peer_id, any(rule) AS rule
        FROM ${matched} GROUP BY sent_id
    ),
    remote_watch AS (${watchersOf('remote_addr', evidence)}),
    local_watch AS (${watchersOf('local_addr', evidence)}),
    joined AS (
        SELECT ${EVIDENCE_COLUMNS.map((c) => `e.${c} AS ${c}`).join(', ')},
           pr.peer_id != '' AS has_peer,
           if(has_peer, pr.rule, NULL) AS match_rule,
           if(has_peer, p.event_id, NULL) AS peer_event_id,
           if(has_peer, p.host, NULL) AS peer_host,
           if(has_peer, p.local_addr, NULL) AS peer_local_addr,
           if(has_peer, p.local_port, NULL) AS peer_local_port,
           if(has_peer, p.remote_addr, NULL) AS peer_remote_addr,
           if(has_peer, p.remote_port, NULL) AS peer_remote_port,
           if(has_peer, p.state, NULL) AS peer_state,
           if(has_peer, p.reason, NULL) AS peer_reason,
           if(has_peer, p.pid, NULL) AS peer_pid,
           if(has_peer, p.comm, NULL) AS peer_comm,
           if(has_peer, p.local_namespace, '') AS peer_local_namespace,
           if(has_peer, p.local_name, '') AS peer_local_name,
           rw.hosts AS peer_watchers,
           ${senderColumns},
           if(e.direction = 'sent', lw.hosts, plw.hosts) AS s_addr_watchers,
           e.direction = 'sent' OR has_peer AS has_sender
        FROM ${evidence} AS e
        LEFT JOIN pairs AS pr ON pr.event_id = e.event_id
        LEFT JOIN ${evidence} AS p ON p.event_id = pr.peer_id
        LEFT JOIN remote_watch AS rw ON rw.event_id = e.event_id
        LEFT JOIN local_watch AS lw ON lw.event_id = e.event_id
        LEFT JOIN local_watch AS plw ON plw.event_id = pr.peer_id
    )
SELECT
    event_id, ts, host, netns, direction,
    -- The sender had no state and another watched host holds its address.
    has_sender AND NOT s_has_socket AND NOT s_trigger_syn
        AND arrayExists(h -> h != s_host, s_addr_watchers) AS impostor,
    multiIf(direction = 'sent', 'local',
            has_peer AND NOT impostor, 'peer',
            has_peer OR notEmpty(peer_watchers), 'injected',
            'unknown') AS origin,
    rst_ttl IS NOT NULL AND peer_ttl IS NOT NULL AND rst_ttl != peer_ttl AS ttl_mismatch,
    if(has_sender, ${SENDER_CAUSE}, ${RECEIVER_CAUSE}) AS cause,
    transform(cause, ${list(CAUSES.map((c) => c.id))}, ${list(CAUSES.map((c) => c.title))}, '')
        AS cause_title,
    ${DETAIL} AS detail,
    if(direction = 'sent', host, if(has_peer, peer_host, NULL)) AS sender_host,
    local_addr, local_port, remote_addr, remote_port, family, state, prev_state, reason,
    accepted, drop_reason, hop_distance, peer_hop_distance, rst_ttl, peer_ttl, rst_ip_id,
    rst_seq, rst_ack, seq_exact, idle_ms, survived_idle_ms, last_sent_ms, last_recv_ms,
    pid, comm, pid_source, unread_bytes, linger_on, linger_s, isn_local, isn_remote,
    trigger_flags, match_rule, peer_event_id, peer_host, peer_local_addr, peer_local_port,
    peer_remote_addr, peer_remote_port, peer_state, peer_reason, peer_pid, peer_comm,
    peer_watchers, s_pid AS sender_pid, s_comm AS sender_comm,
    peer_local_namespace, peer_local_name,
    ${FLOW_END_NAMES.join(', ')}
FROM joined`;
}

export const RESET_CAUSES_VIEW = resetCausesSelect();
