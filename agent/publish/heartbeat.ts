// The heartbeat message: who this agent is, what it covers, what it has counted.
import type { AgentHeartbeat } from '../../proto/index.js';
import type { ResetAggregate } from '../../proto/index.js';
import type { NetnsSentCount } from './kernel-sent-resets.js';

export const HEARTBEAT_INTERVAL_S = 10;

export interface AgentTotals {
  seen: bigint;
  lostKernel: bigint;
  /** Resets the kernel summed into storm aggregates (cumulative). */
  aggregated: bigint;
  /** Of those, resets whose aggregate the agent had no room for (cumulative). */
  aggregatesCut: bigint;
  decoded: number;
  droppedAgent: number;
  published: number;
  buffered: number;
  batchesPublished: number;
  batchesDropped: number;
}

export interface HeartbeatIdentity {
  host: string;
  bootId: string;
  runId: string;
  agentVersion: string;
  kernelRelease: string;
  startedAtNs: bigint;
}

export function buildHeartbeat(
  who: HeartbeatIdentity,
  coverage: { addresses: string[]; netns: { inode: number; name: string }[]; all: boolean },
  totals: AgentTotals,
  nowNs: bigint,
  aggregates: ResetAggregate[] = [],
  sent: readonly NetnsSentCount[] = [],
): AgentHeartbeat {
  return {
    host: who.host,
    boot_id: who.bootId,
    run_id: who.runId,
    agent_version: who.agentVersion,
    kernel_release: who.kernelRelease,
    addresses: coverage.addresses,
    netns: coverage.netns,
    all_netns: coverage.all,
    counters: {
      seen: totals.seen.toString(),
      lost_kernel: totals.lostKernel.toString(),
      dropped_agent: String(totals.droppedAgent),
      published: String(totals.published),
      buffered: String(totals.buffered),
      batches_published: String(totals.batchesPublished),
      batches_dropped: String(totals.batchesDropped),
      decoded: String(totals.decoded),
      aggregated: totals.aggregated.toString(),
    },
    covered_from_unix_ns: who.startedAtNs.toString(),
    covered_to_unix_ns: nowNs.toString(),
    interval_s: HEARTBEAT_INTERVAL_S,
    aggregates,
    sent_resets: sent.map((n) => ({
      inode: n.inode,
      kernel_out_rsts: n.kernelOutRsts.toString(),
      seen_sent: n.seenSent.toString(),
    })),
  };
}
