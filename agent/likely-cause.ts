// A first reading of one reset in words, from its own record alone. The full
// diagnosis (both ends of a flow, injection, idle timeouts) lives in the
// collector; this is what one host can say on the spot.
import type { ResetEvent } from './reset-event.js';

export function likelyCause(e: ResetEvent): string {
  if (e.direction === 'received') return receivedCause(e);
  switch (e.reason) {
    case 'NO_SOCKET':
      return e.trigger_flags === 'SYN'
        ? 'connection attempt to a closed port'
        : 'segment for a connection this host does not know (lost state, restart, or stale NAT)';
    case 'TCP_ABORT_ON_CLOSE':
      return `application closed the socket with ${e.unread_bytes} unread bytes`;
    case 'TCP_ABORT_ON_LINGER':
      return 'application aborted the connection (SO_LINGER 0)';
    case 'TCP_ABORT_ON_DATA':
      return 'data arrived after the application had closed the socket';
    case 'TCP_ABORT_ON_MEMORY':
      return 'aborted under TCP memory pressure or too many orphans';
    case 'TCP_KEEPALIVE_TIMEOUT':
      return 'keepalive probes went unanswered';
    case 'TCP_DISCONNECT_WITH_DATA':
      return 'application disconnected with data in flight';
    case 'TCP_TIMEWAIT_SOCKET':
      return 'segment for a connection in TIME_WAIT';
    case 'TCP_RFC7323_PAWS':
    case 'TCP_INVALID_ACK_SEQUENCE':
    case 'TCP_TOO_OLD_ACK':
    case 'TCP_OLD_ACK':
    case 'TCP_ACK_UNSENT_DATA':
    case 'TCP_FLAGS':
    case 'INVALID_SYN':
      return `protocol violation by the peer (${e.reason})`;
    default:
      if (e.linger_on && e.linger_s === 0)
        return 'application aborted the connection (SO_LINGER 0)';
      if (e.unread_bytes > 0) return `socket closed with ${e.unread_bytes} unread bytes`;
      return `kernel reset (${e.reason})`;
  }
}

function receivedCause(e: ResetEvent): string {
  if (!e.accepted) {
    return `RST discarded (${e.drop_reason ?? 'not acceptable'}): not exact or out of window, connection kept`;
  }
  if (e.rst_ttl !== null && e.peer_ttl !== null && e.rst_ttl !== e.peer_ttl) {
    return `RST TTL ${e.rst_ttl} but the peer's segments arrive with ${e.peer_ttl}: likely injected by a middlebox`;
  }
  if (e.state === 'SYN_SENT') return 'connection refused (closed port or a firewall reject)';
  return 'the peer reset the connection';
}
