// A validated heartbeat → a row of the `agents` table. (Resets go straight from
// protobuf to TSV: reset-batch-tsv.ts.)
import type { AgentHeartbeat } from '../../proto/index.js';
import { formatTimestamp } from '../../proto/timestamps.js';
import type { Row } from '../storage/storage.js';

/**
 * receivedAtNs: when JetStream stored the message (its timestamp, by the NATS
 * server's clock). The heartbeat's covered_to is the agent's clock at sending, so
 * their difference is the agent's clock offset plus the publish delay (a few ms):
 * the skew that reset matching tolerates up to MATCH_TOLERANCE_S (docs/diagnosis.md).
 * Not the collector's clock: a collector catching up a backlog would read as skew.
 */
export function heartbeatRow(h: AgentHeartbeat, receivedAtNs?: bigint): Row {
  const c = h.counters;
  const sent = h.sent_resets ?? [];
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
    aggregated: c?.aggregated ?? '0',
    // Expanded into reset_aggregates by a materialized view (migrations.ts).
    aggregates: h.aggregates.map((a) => ({
      netns: a.netns,
      direction: a.direction,
      reason: a.reason,
      family: a.family,
      remote_prefix: a.remote_prefix,
      remote_port: a.remote_port,
      resets: a.resets,
      first_ts: formatTimestamp(BigInt(a.first_unix_ns)),
      last_ts: formatTimestamp(BigInt(a.last_unix_ns)),
    })),
    covered_from: formatTimestamp(BigInt(h.covered_from_unix_ns)),
    interval_s: h.interval_s,
    sent_netns: sent.map((n) => n.inode),
    kernel_out_rsts: sent.map((n) => n.kernel_out_rsts),
    seen_sent: sent.map((n) => n.seen_sent),
    clock_offset_ms:
      receivedAtNs === undefined
        ? null
        : Number((BigInt(h.covered_to_unix_ns) - receivedAtNs) / 1_000_000n),
  };
}
