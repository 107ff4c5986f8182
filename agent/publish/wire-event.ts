// ResetEvent (as decoded and printed) ⇄ the protobuf ResetEvent on the wire. The
// host and boot id travel once per batch, not per event.
import type { WireResetEvent } from '../../proto/index.js';
import { timestampNs } from '../../proto/timestamps.js';
import type { ResetEvent } from '../reset-event.js';

export function toWireEvent(e: ResetEvent): WireResetEvent {
  const wire: WireResetEvent = {
    ts_unix_ns: timestampNs(e.ts).toString(),
    direction: e.direction,
    reason: e.reason,
    accepted: e.accepted,
    state: e.state,
    prev_state: e.prev_state,
    family: e.family,
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
    pid_source: e.pid_source,
    bytes_acked: String(e.bytes_acked),
    bytes_received: String(e.bytes_received),
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
  };
  // proto3 optional: only what is known goes on the wire, so null survives the trip.
  if (e.drop_reason !== null) wire.drop_reason = e.drop_reason;
  if (e.last_sent_ms !== null) wire.last_sent_ms = e.last_sent_ms;
  if (e.last_recv_ms !== null) wire.last_recv_ms = e.last_recv_ms;
  if (e.conn_age_ms !== null) wire.conn_age_ms = e.conn_age_ms;
  if (e.trigger_flags !== null) wire.trigger_flags = e.trigger_flags;
  if (e.trigger_seq !== null) wire.trigger_seq = e.trigger_seq;
  if (e.trigger_ack !== null) wire.trigger_ack = e.trigger_ack;
  if (e.rst_ttl !== null) wire.rst_ttl = e.rst_ttl;
  if (e.rst_ip_id !== null) wire.rst_ip_id = e.rst_ip_id;
  if (e.rst_seq !== null) wire.rst_seq = e.rst_seq;
  if (e.rst_ack !== null) wire.rst_ack = e.rst_ack;
  if (e.rst_window !== null) wire.rst_window = e.rst_window;
  if (e.peer_ttl !== null) wire.peer_ttl = e.peer_ttl;
  return wire;
}
