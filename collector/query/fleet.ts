// rstscope.v1.Query/Fleet: each agent run's latest heartbeat — what it covers,
// what it counted, whether it is still reporting — beside what was stored.
import type {
  CollectorStatus,
  FleetAgent,
  FleetRequest,
  FleetResponse,
} from '../../proto/index.js';
import { addressForPeople } from '../diagnosis/endpoint.js';
import type { QueryServiceDeps } from './query-deps.js';
import { unaryHandler } from './rpc-failure.js';
import type { QueryParams } from './rpc-queries.js';

/** An agent silent for longer than this is stale: it heartbeats every few seconds. */
export const DEFAULT_STALE_AFTER_S = 30;

// Enough for any fleet we would list in one answer; a larger one pages by host.
const MAX_AGENT_RUNS = 100_000;

interface AgentRow {
  host: string;
  boot_id: string;
  run_id: string;
  agent_version: string;
  kernel_release: string;
  addresses: string[];
  netns: number[];
  netns_names: string[];
  all_netns: boolean;
  seen: string;
  lost_kernel: string;
  dropped_agent: string;
  published: string;
  buffered: string;
  batches_published: string;
  batches_dropped: string;
  decoded: string;
  aggregated: string;
  covered_from_ns: string;
  last_ns: string;
  interval_s: number;
  lag_ms: number;
  age_ms: number;
  stored: string;
  kernel_sent_text: string;
  unseen_sent_text: string;
  clock_offset_ms: number | null;
}

const LATEST = [
  'agent_version',
  'kernel_release',
  'addresses',
  'netns',
  'netns_names',
  'all_netns',
  'seen',
  'lost_kernel',
  'dropped_agent',
  'published',
  'buffered',
  'batches_published',
  'batches_dropped',
  'decoded',
  'aggregated',
  'interval_s',
  'clock_offset_ms',
];

/**
 * Per agent run: the sent resets its namespaces' kernels counted (TcpOutRsts) and
 * those no run counted, from the heartbeat before the run's first to its last.
 * Heartbeats of one boot are taken in order whatever their run, per namespace:
 * each step adds the kernel's increase and takes away what the agent counted in it
 * (the same run: its increase; a new run: all it counted since it started). So a
 * stop, a crash, a killed run's resets after its last heartbeat all land in the
 * step that spans them, in the next run's row. The first heartbeat that reports a
 * namespace in a boot is its baseline. A namespace whose counter went down was
 * made again under a reused inode: its count starts from zero.
 */
const SENT_GAPS = `
  heartbeats AS (
    SELECT host, boot_id, run_id, ts,
           any(sent_netns) AS ns_list, any(kernel_out_rsts) AS k_list, any(seen_sent) AS s_list
    FROM agents HOST_FILTER
    GROUP BY host, boot_id, run_id, ts
  ),
  steps AS (
    SELECT host, boot_id, run_id, toInt64(k) AS k, toInt64(s) AS s,
           lagInFrame(toInt64(k)) OVER w AS prev_k, lagInFrame(toInt64(s)) OVER w AS prev_s,
           lagInFrame(run_id) OVER w AS prev_run, row_number() OVER w AS n,
           if(k >= prev_k, k - prev_k, k) AS kernel_step,
           if(prev_run = run_id AND s >= prev_s, s - prev_s, s) AS seen_step
    FROM heartbeats
    ARRAY JOIN ns_list AS ns, k_list AS k, s_list AS s
    WINDOW w AS (PARTITION BY host, boot_id, ns ORDER BY ts, run_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
  ),
  gaps AS (
    SELECT CAST(host AS String) AS gap_host, CAST(boot_id AS String) AS gap_boot_id,
           toString(run_id) AS gap_run_id,
           sumIf(kernel_step, n > 1) AS kernel_sent,
           sumIf(kernel_step - seen_step, n > 1) AS unseen_sent
    FROM steps
    GROUP BY host, boot_id, run_id
  )`;

export function fleetHandler(deps: QueryServiceDeps) {
  return unaryHandler<FleetRequest, FleetResponse>('Fleet', deps, async (request, queries) => {
    const staleAfterS = request.stale_after_s || DEFAULT_STALE_AFTER_S;
    const params: QueryParams = {};
    let onlyHost = '';
    if (request.host) {
      onlyHost = 'WHERE host = {host:String}';
      params.host = request.host;
    }
    // A run's stored resets are those of its batches: batch ids start with
    // host/boot_id/run_id/. A redelivered heartbeat (same key, not yet merged
    // away) has the same values, so argMax over ts reads it once.
    const rows = await queries.rows<AgentRow>(
      `WITH ${SENT_GAPS.replace('HOST_FILTER', onlyHost)},
         runs AS (
           SELECT CAST(host AS String) AS host, CAST(boot_id AS String) AS boot_id,
                  toString(run_id) AS run_id,
                  ${LATEST.map((c) => `argMax(${c}, ts) AS ${c}`).join(', ')},
                  toString(toUnixTimestamp64Nano(min(covered_from))) AS covered_from_ns,
                  max(ts) AS last_ts,
                  toString(toUnixTimestamp64Nano(last_ts)) AS last_ns,
                  dateDiff('millisecond', last_ts, argMax(inserted_at, ts)) AS lag_ms
           FROM agents ${onlyHost}
           GROUP BY host, boot_id, run_id
         ),
         stored AS (
           SELECT arrayStringConcat(arraySlice(splitByChar('/', batch_id), 1, 3), '/') AS run_key,
                  count() AS stored
           FROM resets
           WHERE host IN (SELECT host FROM runs)
           GROUP BY run_key
         )
         SELECT runs.*, dateDiff('millisecond', last_ts, now64(3)) AS age_ms,
                ifNull(stored.stored, 0) AS stored,
                toString(ifNull(gaps.kernel_sent, 0)) AS kernel_sent_text,
                toString(ifNull(gaps.unseen_sent, 0)) AS unseen_sent_text
         FROM runs
         LEFT JOIN stored ON stored.run_key = concat(runs.host, '/', runs.boot_id, '/', runs.run_id)
         LEFT JOIN gaps ON gaps.gap_host = runs.host AND gaps.gap_boot_id = runs.boot_id
                       AND gaps.gap_run_id = runs.run_id
         ORDER BY host, last_ts DESC, boot_id, run_id
         LIMIT ${MAX_AGENT_RUNS}`,
      params,
      MAX_AGENT_RUNS,
    );
    return {
      agents: rows.map((r) => fleetAgent(r, staleAfterS)),
      collector: await collectorStatus(deps),
    };
  });
}

function fleetAgent(r: AgentRow, staleAfterS: number): FleetAgent {
  return {
    host: r.host,
    boot_id: r.boot_id,
    run_id: r.run_id,
    agent_version: r.agent_version,
    kernel_release: r.kernel_release,
    addresses: r.addresses.map(addressForPeople),
    netns: r.netns.map((inode, i) => ({ inode, name: r.netns_names[i] ?? '' })),
    all_netns: r.all_netns,
    counters: {
      seen: r.seen,
      lost_kernel: r.lost_kernel,
      dropped_agent: r.dropped_agent,
      published: r.published,
      buffered: r.buffered,
      batches_published: r.batches_published,
      batches_dropped: r.batches_dropped,
      decoded: r.decoded,
      aggregated: r.aggregated,
    },
    covered_from_unix_ns: r.covered_from_ns,
    last_heartbeat_unix_ns: r.last_ns,
    interval_s: r.interval_s,
    status: r.age_ms > staleAfterS * 1000 ? 'stale' : 'live',
    delivery_lag_ms: r.lag_ms,
    // Positive while batches are in flight or were lost. Negative for a moment:
    // the heartbeat counts what the kernel saw up to its ts, and the batches of
    // resets since then may be stored before the next heartbeat arrives.
    // Aggregated resets are stored too, as counts in reset_aggregates.
    missing: String(BigInt(r.seen) - BigInt(r.stored) - BigInt(r.aggregated)),
    stored: r.stored,
    kernel_sent: r.kernel_sent_text,
    unseen_sent: r.unseen_sent_text,
    ...(r.clock_offset_ms === null ? {} : { clock_offset_ms: r.clock_offset_ms }),
  };
}

/**
 * The collector's own figures. NATS not answering must not hide the agents,
 * which come from storage: the status then says why its figures are missing.
 */
async function collectorStatus(deps: QueryServiceDeps): Promise<CollectorStatus> {
  const unknown = {
    storage: deps.storageName,
    stream_pending: '0',
    ack_pending: '0',
    rows_inserted: '0',
    dead_lettered: '0',
    unavailable: '',
    store_failing: '',
  };
  if (!deps.collectorStatus) return unknown;
  try {
    return await deps.collectorStatus();
  } catch (err) {
    return { ...unknown, unavailable: (err as Error).message };
  }
}
