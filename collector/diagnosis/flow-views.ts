// flows and injected_resets: the user's two ways into reset_causes.
import { addressText } from './cause-view.js';

// One row per reset, both ends side by side: the end that received it and the
// end whose stack sent it. Each end's addresses are as that end saw them, so a
// NAT between them shows as two different tuples on one row.
export const FLOWS_VIEW = `
SELECT
    ts, origin, cause, cause_title, detail, match_rule,
    if(direction = 'received', event_id, peer_event_id) AS received_event_id,
    if(direction = 'sent', event_id, peer_event_id) AS sent_event_id,
    if(direction = 'received', host, peer_host) AS receiver_host,
    if(direction = 'received', local_addr, peer_local_addr) AS receiver_addr,
    if(direction = 'received', local_port, peer_local_port) AS receiver_port,
    if(direction = 'received', remote_addr, peer_remote_addr) AS receiver_remote_addr,
    if(direction = 'received', remote_port, peer_remote_port) AS receiver_remote_port,
    if(direction = 'received', state, peer_state) AS receiver_state,
    if(direction = 'received', comm, peer_comm) AS receiver_comm,
    sender_host,
    if(direction = 'sent', local_addr, peer_local_addr) AS sender_addr,
    if(direction = 'sent', local_port, peer_local_port) AS sender_port,
    if(direction = 'sent', remote_addr, peer_remote_addr) AS sender_remote_addr,
    if(direction = 'sent', remote_port, peer_remote_port) AS sender_remote_port,
    if(direction = 'sent', state, peer_state) AS sender_state,
    if(direction = 'sent', reason, peer_reason) AS sender_reason,
    sender_comm, sender_pid,
    peer_watchers,
    if(direction = 'received', hop_distance, NULL) AS hop_distance,
    if(direction = 'received', rst_ttl, NULL) AS rst_ttl,
    if(direction = 'received', peer_ttl, NULL) AS peer_ttl,
    if(direction = 'received', idle_ms, NULL) AS idle_ms
FROM reset_causes
WHERE direction = 'received' OR peer_event_id IS NULL`;

/** How a middlebox struck: at the handshake, mid-stream, or when an idle flow resumed. */
const KIND = `multiIf(state = 'SYN_SENT', 'reject_on_connect',
                       cause = 'idle_timeout', 'idle_kill', 'mid_stream')`;

export const INJECTED_RESETS_VIEW = `
SELECT
    event_id, ts, host, ${KIND} AS kind, cause, cause_title, detail,
    local_addr, local_port, remote_addr, remote_port,
    format('{}:{} <- {}:{}', ${addressText('local_addr')}, toString(local_port),
           ${addressText('remote_addr')}, toString(remote_port)) AS flow,
    state, accepted, hop_distance, peer_hop_distance, rst_ttl, peer_ttl, rst_ip_id, seq_exact,
    idle_ms, survived_idle_ms, peer_watchers, sender_host, comm, pid
FROM reset_causes
WHERE origin = 'injected'`;
