// How the agent prints resets and counters on a terminal.
import { enumName } from './kernel-names.js';
import type { EnumNames } from './kernel-names.js';
import type { KernelCounters } from './loader-frames.js';
import { likelyCause } from './likely-cause.js';
import type { AgentTotals } from './publish/heartbeat.js';
import type { ResetEvent } from './reset-event.js';

function endpoint(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** namespace/pod (container), when the agent named the pod; '' otherwise. */
function podOf(e: ResetEvent): string {
  if (!e.pod_name) return e.pod_uid ? ` pod:${e.pod_uid}` : '';
  return ` ${e.pod_namespace}/${e.pod_name}${e.container_name ? ` (${e.container_name})` : ''}`;
}

/** One readable line: time, namespace, pod, direction, tuple, reason, state, process, cause. */
export function formatResetLine(e: ResetEvent, netnsName: string | undefined): string {
  const time = e.ts.slice(11, 26);
  const arrow = e.direction === 'sent' ? '->' : '<-';
  const what = e.direction === 'sent' ? e.reason : e.accepted ? 'RST' : 'RST (discarded)';
  const proc = e.pid ? ` ${e.comm}[${e.pid}]` : '';
  const states = e.sock_cookie === '0' ? 'no-socket' : `${e.prev_state}>${e.state}`;
  const ttl = e.rst_ttl !== null ? ` ttl=${e.rst_ttl}${e.peer_ttl ? `/${e.peer_ttl}` : ''}` : '';
  return (
    `${time} ${netnsName ?? e.netns}${podOf(e)} ${e.direction.padEnd(8)} ` +
    `${endpoint(e.local_addr, e.local_port)} ${arrow} ${endpoint(e.remote_addr, e.remote_port)} ` +
    `${what} ${states}${ttl}${proc}: ${likelyCause(e)}`
  );
}

export interface CounterSummary {
  counters: KernelCounters | undefined;
  delivered: number;
  /** Present when the agent published to NATS. */
  publish?: AgentTotals | undefined;
}

function publishJson(t: AgentTotals) {
  return {
    published: t.published,
    dropped_agent: t.droppedAgent,
    batches_published: t.batchesPublished,
    batches_dropped: t.batchesDropped,
  };
}

function counterRows(summary: CounterSummary, rstReasons: EnumNames) {
  return (summary.counters?.entries ?? []).map((c) => ({
    netns: c.netns,
    direction: c.direction === 1 ? 'sent' : 'received',
    reason: c.reason === 0xffff ? 'UNKNOWN' : enumName(rstReasons, c.reason),
    accepted: c.accepted,
    count: Number(c.count),
  }));
}

export function countersJson(summary: CounterSummary, rstReasons: EnumNames): string {
  return JSON.stringify({
    counters: {
      entries: counterRows(summary, rstReasons),
      lost: Number(summary.counters?.lost ?? 0n),
      // seen = delivered + aggregated + lost.
      aggregated: Number(summary.counters?.aggregated ?? 0n),
      count_overflow: Number(summary.counters?.countOverflow ?? 0n),
      self_reset: Number(summary.counters?.selfReset ?? 0n),
      delivered: summary.delivered,
    },
    ...(summary.publish ? { publish: publishJson(summary.publish) } : {}),
  });
}

export function countersTable(
  summary: CounterSummary,
  rstReasons: EnumNames,
  names: Map<number, string>,
): string {
  const rows = counterRows(summary, rstReasons);
  const lines = ['kernel counters (exact, per namespace, direction and reason):'];
  if (!rows.length) lines.push('  no resets');
  for (const r of rows) {
    const ns = names.get(r.netns) ?? String(r.netns);
    const acc = r.direction === 'received' && !r.accepted ? ' (discarded)' : '';
    lines.push(
      `  ${ns.padEnd(22)} ${r.direction.padEnd(9)} ${(r.reason + acc).padEnd(34)} ${r.count}`,
    );
  }
  lines.push(`events delivered: ${summary.delivered}`);
  if (summary.counters?.aggregated) {
    lines.push(
      `aggregated in the kernel (storm sums, not recorded one by one): ${summary.counters.aggregated}`,
    );
  }
  lines.push(`lost in the kernel (ring buffer full): ${summary.counters?.lost ?? 0n}`);
  if (summary.counters?.countOverflow) {
    lines.push(`not in the per-reason counters (map full): ${summary.counters.countOverflow}`);
  }
  if (summary.publish) {
    lines.push(`published to JetStream: ${summary.publish.published}`);
    lines.push(`dropped in the agent (publish buffer full): ${summary.publish.droppedAgent}`);
  }
  return lines.join('\n');
}
