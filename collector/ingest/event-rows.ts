// Validated messages → rows of the `resets` and `agents` tables. A reset row is
// exactly the agent's JSON record plus the batch identity that de-duplicates it.
import type { AgentHeartbeat, ResetBatch, WireResetEvent } from '../../proto/index.js';
import { batchId } from '../../proto/nats-topology.js';
import { formatTimestamp } from '../../proto/timestamps.js';
import type { Row } from '../storage/storage.js';

export function resetRows(batch: ResetBatch): Row[] {
  const id = batchId(batch.host, batch.boot_id, batch.run_id, batch.seq);
  return batch.events.map((e, index) => ({
    ...resetRecord(batch.host, batch.boot_id, e),
    batch_id: id,
    batch_index: index,
  }));
}

/** The event as `rstscope agent --json` printed it. */
export function resetRecord(host: string, bootId: string, e: WireResetEvent): Row {
  return {
    ts: formatTimestamp(BigInt(e.ts_unix_ns)),
    host,
    boot_id: bootId,
    direction: e.direction,
    reason: e.reason,
    accepted: e.accepted,
    drop_reason: e.drop_reason ?? null,
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

export function heartbeatRow(h: AgentHeartbeat): Row {
  const c = h.counters;
  return {
    ts: formatTimestamp(BigInt(h.covered_to_unix_ns)),
    host: h.host,
    boot_id: h.boot_id,
    run_id: h.run_id,
    agent_version: h.agent_version,
    kernel_release: h.kernel_release,
    addresses: h.addresses,
    netns: h.netns.map((n) => n.inode),
    netns_names: h.netns.map((n) => n.name),
    all_netns: h.all_netns,
    seen: c?.seen ?? '0',
    lost_kernel: c?.lost_kernel ?? '0',
    dropped_agent: c?.dropped_agent ?? '0',
    published: c?.published ?? '0',
    buffered: c?.buffered ?? '0',
    batches_published: c?.batches_published ?? '0',
    batches_dropped: c?.batches_dropped ?? '0',
    decoded: c?.decoded ?? '0',
    covered_from: formatTimestamp(BigInt(h.covered_from_unix_ns)),
    interval_s: h.interval_s,
  };
}
