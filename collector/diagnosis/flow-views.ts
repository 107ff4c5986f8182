// flows and injected_resets: the user's two ways into reset_causes.
import { addressText } from './address-sql.js';
import { FLOW_END_NAMES, ROLE_NAMES } from './flow-end-columns.js';

/**
 * One end's column: this row's own when the row is that end's record, else the
 * matched peer's (reset_causes names it peer_<column>).
 */
const end = (side: 'sent' | 'received', column: string, as: string) =>
  `if(direction = '${side}', ${column}, peer_${column}) AS ${as}`;

const RECEIVER = [
  end('received', 'event_id', 'received_event_id'),
  end('received', 'host', 'receiver_host'),
  end('received', 'local_addr', 'receiver_addr'),
  end('received', 'local_port', 'receiver_port'),
  end('received', 'remote_addr', 'receiver_remote_addr'),
  end('received', 'remote_port', 'receiver_remote_port'),
  end('received', 'state', 'receiver_state'),
  end('received', 'comm', 'receiver_comm'),
];

const SENDER = [
  end('sent', 'event_id', 'sent_event_id'),
  'sender_host',
  end('sent', 'local_addr', 'sender_addr'),
  end('sent', 'local_port', 'sender_port'),
  end('sent', 'remote_addr', 'sender_remote_addr'),
  end('sent', 'remote_port', 'sender_remote_port'),
  end('sent', 'state', 'sender_state'),
  end('sent', 'reason', 'sender_reason'),
  'sender_comm',
  'sender_pid',
];

/** What the RST looked like on arrival: only the receiving end's record has it. */
const ON_ARRIVAL = ['hop_distance', 'rst_ttl', 'peer_ttl', 'idle_ms'].map(
  (c) => `if(direction = 'received', ${c}, NULL) AS ${c}`,
);

// One row per reset, both ends side by side: the end that received it and the
// end whose stack sent it. Each end's addresses are as that end saw them, so a
// NAT between them shows as two different tuples on one row.
export const FLOWS_VIEW = `
SELECT
    ts, origin, cause, cause_title, detail, match_rule,
    ${[...RECEIVER, ...SENDER, 'peer_watchers', ...ON_ARRIVAL].join(',\n    ')},
    -- Client and server by name, as the receiving end's record (or the lone sender's) names them.
    ${ROLE_NAMES.join(', ')}
FROM reset_causes
WHERE direction = 'received' OR peer_event_id IS NULL`;

/** How a middlebox struck: at the handshake, mid-stream, or when an idle flow resumed. */
const KIND = `multiIf(state = 'SYN_SENT', 'reject_on_connect',
                       cause = 'idle_timeout', 'idle_kill', 'mid_stream')`;

export const INJECTED_RESETS_VIEW = `
SELECT
    event_id, ts, host, netns, direction, ${KIND} AS kind, cause, cause_title, detail,
    local_addr, local_port, remote_addr, remote_port,
    format('{}:{} <- {}:{}', ${addressText('local_addr')}, toString(local_port),
           ${addressText('remote_addr')}, toString(remote_port)) AS flow,
    state, accepted, hop_distance, peer_hop_distance, rst_ttl, peer_ttl, rst_ip_id, seq_exact,
    idle_ms, survived_idle_ms, peer_watchers, sender_host, comm, pid,
    ${FLOW_END_NAMES.join(', ')}
FROM reset_causes
WHERE origin = 'injected'`;
