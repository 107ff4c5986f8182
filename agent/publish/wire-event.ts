// ResetEvent (as decoded and printed) ⇄ the protobuf ResetEvent on the wire. The
// host and boot id travel once per batch, not per event.
import type { WireResetEvent } from '../../proto/index.js';
import { timestampNs } from '../../proto/timestamps.js';
import type { ResetEvent } from '../reset-event.js';

/** The fields that may be unknown (null in the record, proto3 `optional` on the wire). */
const NULLABLE_FIELDS = [
  'drop_reason',
  'last_sent_ms',
  'last_recv_ms',
  'survived_idle_ms',
  'conn_age_ms',
  'trigger_flags',
  'trigger_seq',
  'trigger_ack',
  'rst_ttl',
  'rst_ip_id',
  'rst_seq',
  'rst_ack',
  'rst_window',
  'peer_ttl',
] as const satisfies readonly (keyof ResetEvent & keyof WireResetEvent)[];

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
  const optional = wire as unknown as Record<string, unknown>;
  for (const key of NULLABLE_FIELDS) if (e[key] !== null) optional[key] = e[key];
  return wire;
}
