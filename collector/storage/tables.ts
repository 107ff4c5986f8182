// The tables rstscope stores, defined once. The single-node DDL, the
// cluster DDL and docs/storage.md all follow from these lists.

export interface Column {
  name: string;
  type: string;
  /** Compression; chosen for how the column looks in sort order (see docs/storage.md). */
  codec: string;
  comment: string;
  default?: string;
  /**
   * The migration that added this column to tables created before it. A table
   * created since has it from its CREATE; absent: there from the first CREATE.
   */
  since?: number;
}

export interface SkipIndex {
  name: string;
  expression: string;
  type: string;
  granularity: number;
}

export interface TableDefinition {
  name: 'resets' | 'agents' | 'addresses' | 'reset_aggregates';
  comment: string;
  columns: readonly Column[];
  /** The replicated variant is the same engine with a Replicated prefix. */
  engine: 'MergeTree' | 'ReplacingMergeTree';
  /** ReplacingMergeTree's version column: of rows with one key, the largest stays. */
  version?: string;
  partitionBy: string;
  orderBy: readonly string[];
  indexes: readonly SkipIndex[];
  /** A DateTime expression the retention TTL counts from. */
  ttlFrom: string;
  /** Spreads rows over shards in the cluster layout. */
  shardingKey: string;
  settings: Readonly<Record<string, number>>;
}

const TIME = "DateTime64(9, 'UTC')";
const LC = 'LowCardinality(String)';
// Codecs were compared on 2M synthetic resets in this sort order (docs/storage.md).
// Integers that use few of their bits (pids, cookies, byte counts, milliseconds):
// T64 drops the unused high bits, ZSTD the repetition that is left.
const SMALL_INT = 'T64, ZSTD(1)';
// Sequence numbers and ISNs are random 32-bit values: nothing to transpose. Ports
// are sort-key columns, in runs already: T64 made them larger.
const PLAIN = 'ZSTD(1)';
// A reset's ts is in random order within its host-hour (rows sort by flow there),
// so deltas are as wide as the values; what they share is the high bits of the hour.
const EVENT_TIME = 'T64, ZSTD(1)';
// Heartbeats sort by run then time and come every interval_s: regular steps.
const STEADY_TIME = 'DoubleDelta, ZSTD(1)';
// Insert times and per-run counters only grow, in small steps.
const GROWING = 'Delta, ZSTD(1)';
const TEXT = 'ZSTD(1)';

function col(name: string, type: string, codec: string, comment: string): Column {
  return { name, type, codec, comment };
}

function since(version: number, columns: Column[]): Column[] {
  return columns.map((c) => ({ ...c, since: version }));
}

/** Who one end of the flow is: a pod, a service (its ClusterIP), a node or an inventory entry. */
function endColumns(end: 'local' | 'remote', title: string): Column[] {
  return [
    col(`${end}_kind`, LC, TEXT, `${title} end: pod, service, node, inventory or empty`),
    col(`${end}_namespace`, LC, TEXT, `${title} end's namespace`),
    col(`${end}_name`, LC, TEXT, `${title} end's pod, service, node or inventory name`),
    col(`${end}_workload`, LC, TEXT, `${title} end's workload, Kind/name`),
    col(
      `${end}_services`,
      'Array(LowCardinality(String))',
      TEXT,
      `${title} end's services (namespace/name) at that address and port`,
    ),
  ];
}

/** Both tables end with it: the server's clock, not the agent's, says when a row arrived. */
const INSERTED_AT: Column = {
  ...col('inserted_at', "DateTime64(3, 'UTC')", GROWING, 'When the collector stored the row'),
  default: 'now64(3)',
};

export const RESETS: TableDefinition = {
  name: 'resets',
  comment: 'One row per TCP reset the kernel sent or received',
  columns: [
    col('ts', TIME, EVENT_TIME, 'Wall-clock time of the reset, nanoseconds, UTC'),
    col('host', LC, TEXT, 'Node name of the host whose kernel saw the reset'),
    col('boot_id', LC, TEXT, 'Kernel boot id of that host (/proc/sys/kernel/random/boot_id)'),
    col('direction', LC, TEXT, 'sent or received'),
    col('reason', LC, TEXT, 'enum sk_rst_reason without prefix; UNKNOWN when received'),
    col('accepted', 'Bool', TEXT, 'Received: the RST tore the connection down (false: discarded)'),
    col(
      'drop_reason',
      'LowCardinality(Nullable(String))',
      TEXT,
      'Why TCP discarded a received RST',
    ),
    col('state', LC, TEXT, 'TCP state of the socket when the reset happened'),
    col('prev_state', LC, TEXT, 'TCP state before that'),
    col('family', LC, TEXT, 'ipv4 or ipv6'),
    col('local_addr', 'IPv6', TEXT, 'Local address; IPv4 stored v4-mapped (::ffff:a.b.c.d)'),
    col('local_port', 'UInt16', PLAIN, 'Local port'),
    col('remote_addr', 'IPv6', TEXT, 'Remote address; IPv4 stored v4-mapped'),
    col('remote_port', 'UInt16', PLAIN, 'Remote port'),
    col('netns', 'UInt32', SMALL_INT, 'Network namespace inode'),
    col('sock_cookie', 'UInt64', SMALL_INT, 'Kernel socket cookie, unique per boot'),
    col('cgroup_id', 'UInt64', SMALL_INT, 'cgroup v2 id of the process'),
    col('pid', 'UInt32', SMALL_INT, 'Process id (0: none known)'),
    col('tid', 'UInt32', SMALL_INT, 'Thread id'),
    col('comm', LC, TEXT, 'Process name'),
    col('pid_source', LC, TEXT, 'context: pid reset it; owner: pid owned the socket; none'),
    col('bytes_acked', 'UInt64', SMALL_INT, 'Bytes the peer acknowledged'),
    col('bytes_received', 'UInt64', SMALL_INT, 'Bytes received in order'),
    col('segs_in', 'UInt32', SMALL_INT, 'Segments received'),
    col('segs_out', 'UInt32', SMALL_INT, 'Segments sent'),
    col('total_retrans', 'UInt32', SMALL_INT, 'Retransmitted segments'),
    col('srtt_us', 'UInt32', SMALL_INT, 'Smoothed round-trip time, microseconds'),
    col('snd_una', 'UInt32', PLAIN, 'First unacknowledged sequence number'),
    col('snd_nxt', 'UInt32', PLAIN, 'Next sequence number to send'),
    col('rcv_nxt', 'UInt32', PLAIN, 'Next sequence number expected'),
    col('isn_local', 'UInt32', PLAIN, 'Initial sequence number, local side'),
    col('isn_remote', 'UInt32', PLAIN, 'Initial sequence number, remote side'),
    col('isn_exact', 'Bool', TEXT, 'ISNs recorded at the handshake (true) or derived'),
    col('unread_bytes', 'UInt32', SMALL_INT, 'Received bytes the application had not read'),
    col('unsent_bytes', 'UInt32', SMALL_INT, 'Bytes queued but not yet sent'),
    col('linger_on', 'Bool', TEXT, 'SO_LINGER set'),
    col('linger_s', 'UInt32', SMALL_INT, 'SO_LINGER timeout, seconds'),
    col('last_sent_ms', 'Nullable(UInt32)', SMALL_INT, 'Milliseconds since the last segment sent'),
    col(
      'last_recv_ms',
      'Nullable(UInt32)',
      SMALL_INT,
      'Milliseconds since the last segment received',
    ),
    {
      ...col(
        'survived_idle_ms',
        'Nullable(UInt32)',
        SMALL_INT,
        'Longest gap between two ordinary segments received in ESTABLISHED, milliseconds',
      ),
      since: 3,
    },
    col('conn_age_ms', 'Nullable(Float64)', TEXT, 'Age of the connection, milliseconds'),
    col(
      'trigger_flags',
      'LowCardinality(Nullable(String))',
      TEXT,
      'Sent: flags of the segment that triggered it',
    ),
    col('trigger_seq', 'Nullable(UInt32)', PLAIN, 'Sent: sequence number of that segment'),
    col('trigger_ack', 'Nullable(UInt32)', PLAIN, 'Sent: acknowledgment number of that segment'),
    col('rst_ttl', 'Nullable(UInt8)', TEXT, 'Received: IP TTL / hop limit of the RST'),
    col('rst_ip_id', 'Nullable(UInt16)', TEXT, 'Received: IPv4 ID of the RST'),
    col('rst_seq', 'Nullable(UInt32)', PLAIN, 'Received: sequence number of the RST'),
    col('rst_ack', 'Nullable(UInt32)', PLAIN, 'Received: acknowledgment number of the RST'),
    col('rst_window', 'Nullable(UInt16)', TEXT, 'Received: window of the RST'),
    col('peer_ttl', 'Nullable(UInt8)', TEXT, "TTL of the peer's last ordinary segment"),
    // Kubernetes, as the agent found it (docs/kubernetes.md); empty outside a pod.
    ...since(4, [
      col('pod_uid', LC, TEXT, "UID of the socket's pod, from its cgroup path"),
      col('pod_name', LC, TEXT, "Name of the socket's pod"),
      col('pod_namespace', LC, TEXT, "Namespace of the socket's pod"),
      col('container_name', LC, TEXT, "Name of the socket's container in its pod"),
      col('container_id', LC, TEXT, 'Container runtime id, without its scheme'),
      col('workload', LC, TEXT, "The pod's workload, Kind/name (Deployment/checkout)"),
      col('pod_labels', 'Map(LowCardinality(String), String)', TEXT, "The pod's labels"),
      col('pod_source', LC, TEXT, 'How the agent found the pod: cgroup, address or empty'),
    ]),
    // Both ends by name, resolved by the collector when it stored the row from
    // the agent's pod and its Kubernetes address map or inventory at the reset's time.
    ...since(4, endColumns('local', 'Local')),
    ...since(4, endColumns('remote', 'Remote')),
    col('batch_id', 'String', TEXT, 'Nats-Msg-Id of the batch: host/boot_id/run_id/seq'),
    col('batch_index', 'UInt32', SMALL_INT, 'Position in the batch; with batch_id the identity'),
    INSERTED_AT,
  ],
  engine: 'MergeTree',
  partitionBy: 'toDate(ts)',
  // Host and hour first: "this node between t1 and t2" is one contiguous range.
  // Within a host-hour, rows group by flow; the peer's row of the same flow has
  // our local end as its remote end, so either side filters on the same columns.
  orderBy: ['host', 'toStartOfHour(ts)', 'remote_addr', 'remote_port', 'local_port', 'ts'],
  // Without its host (the peer's side, "who talked to this address") a flow
  // lookup would scan its whole time range: a host-hour is usually smaller than
  // one granule, so the key alone cannot skip. Per-granule bloom filters read
  // 200 times fewer rows on 10M resets, for 4 % more disk (docs/storage.md).
  indexes: [
    { name: 'local_addr_bf', expression: 'local_addr', type: 'bloom_filter(0.01)', granularity: 1 },
    {
      name: 'remote_addr_bf',
      expression: 'remote_addr',
      type: 'bloom_filter(0.01)',
      granularity: 1,
    },
  ],
  ttlFrom: 'toDateTime(ts)',
  shardingKey: 'cityHash64(host)',
  // Daily partitions expire whole: dropping a part is free, rewriting it is not.
  settings: { ttl_only_drop_parts: 1 },
};

/** agents.aggregates' tuple: the heartbeat's ResetAggregate, times as DateTime64. */
const AGGREGATE_FIELDS = [
  'netns UInt32',
  'direction String',
  'reason String',
  'family String',
  'remote_prefix String',
  'remote_port UInt16',
  'resets UInt64',
  `first_ts ${TIME}`,
  `last_ts ${TIME}`,
].join(', ');

export const AGENTS: TableDefinition = {
  name: 'agents',
  comment: 'One row per agent heartbeat: what it covers and what it counted',
  columns: [
    col('ts', TIME, STEADY_TIME, 'End of the span this heartbeat covers'),
    col('host', LC, TEXT, 'Node name'),
    col('boot_id', LC, TEXT, 'Kernel boot id'),
    col('run_id', 'UInt64', SMALL_INT, 'Identifies one run of the agent within a boot'),
    col('agent_version', LC, TEXT, 'rstscope version of the agent'),
    col('kernel_release', LC, TEXT, 'uname -r'),
    col('addresses', 'Array(IPv6)', TEXT, 'Addresses of the covered namespaces, v4-mapped'),
    col('netns', 'Array(UInt32)', TEXT, 'Covered network namespace inodes'),
    col('netns_names', 'Array(String)', TEXT, 'Their names under /run/netns, or empty'),
    col('all_netns', 'Bool', TEXT, 'The agent watches every namespace of the host'),
    col('seen', 'UInt64', GROWING, 'Resets the kernel counted'),
    col('lost_kernel', 'UInt64', GROWING, 'Events the ring buffer had no room for'),
    col('dropped_agent', 'UInt64', GROWING, 'Events dropped with a full publish buffer'),
    col('published', 'UInt64', GROWING, 'Events JetStream acknowledged'),
    col('buffered', 'UInt64', SMALL_INT, 'Events waiting in the publish buffer'),
    col('batches_published', 'UInt64', GROWING, 'Batches published'),
    col('batches_dropped', 'UInt64', GROWING, 'Batches dropped'),
    col('decoded', 'UInt64', GROWING, 'Events decoded from the ring buffer'),
    col('covered_from', TIME, GROWING, 'Start of the covered span (agent start)'),
    col('interval_s', 'UInt32', SMALL_INT, 'Seconds until the next heartbeat'),
    INSERTED_AT,
    ...since(6, [
      col(
        'aggregated',
        'UInt64',
        GROWING,
        'Resets the kernel summed into storm aggregates (seen = decoded + aggregated + lost_kernel)',
      ),
      col(
        'aggregates',
        `Array(Tuple(${AGGREGATE_FIELDS}))`,
        TEXT,
        'The storm aggregates this heartbeat carried, one row each in the aggregates table',
      ),
    ]),
    ...since(7, [
      col(
        'sent_netns',
        'Array(UInt32)',
        TEXT,
        'Covered namespaces whose kernel reset counter the agent read (kernel_out_rsts, seen_sent)',
      ),
      col(
        'kernel_out_rsts',
        'Array(UInt64)',
        TEXT,
        'TcpOutRsts of each sent_netns: the kernel’s count of resets it sent since it was created',
      ),
      col(
        'seen_sent',
        'Array(UInt64)',
        TEXT,
        'Sent resets this run counted in each sent_netns, since the run started',
      ),
      col(
        'clock_offset_ms',
        'Nullable(Int64)',
        PLAIN,
        'The agent’s clock minus the JetStream server’s when this heartbeat arrived (NULL: unknown)',
      ),
    ]),
  ],
  // A redelivered heartbeat has the same key and collapses at merge time;
  // readers that must not see it twice use FINAL or argMax.
  engine: 'ReplacingMergeTree',
  partitionBy: 'toDate(ts)',
  orderBy: ['host', 'boot_id', 'run_id', 'ts'],
  indexes: [],
  ttlFrom: 'toDateTime(ts)',
  // The same host always lands on the same shard, so duplicates meet and collapse.
  shardingKey: 'cityHash64(host)',
  settings: { ttl_only_drop_parts: 1 },
};

const MS_TIME = "DateTime64(3, 'UTC')";

/**
 * One storm aggregate: the resets the kernel summed per (netns, direction,
 * reason, remote port, remote /24 or /64) while its ring buffer was filling.
 * Written once per heartbeat that carried some (heartbeat ts, then the key), by
 * the materialized view over `agents` (migrations.ts): a redelivered heartbeat
 * gives the same rows, which collapse.
 */
export const RESET_AGGREGATES: TableDefinition = {
  name: 'reset_aggregates',
  comment: 'Resets of a storm the kernel summed instead of recording one by one',
  columns: [
    col('ts', TIME, STEADY_TIME, 'The heartbeat that carried the aggregate (its covered_to)'),
    col('host', LC, TEXT, 'Node name'),
    col('boot_id', LC, TEXT, 'Kernel boot id'),
    col('run_id', 'UInt64', SMALL_INT, 'Identifies one run of the agent within a boot'),
    col('netns', 'UInt32', SMALL_INT, 'Network namespace inode'),
    col('direction', LC, TEXT, 'sent or received'),
    col('reason', LC, TEXT, 'The kernel’s reset reason (sent), UNKNOWN for received'),
    col('family', LC, TEXT, 'ipv4 or ipv6'),
    col(
      'remote_prefix',
      LC,
      TEXT,
      'The remote addresses’ network: a.b.c.0/24 or x:x:x:x::/64; 0.0.0.0/0 or ::/0 when the agent had to merge',
    ),
    col('remote_port', 'UInt16', PLAIN, 'Remote port; 0 when the agent had to merge'),
    col('resets', 'UInt64', SMALL_INT, 'Resets summed'),
    col('first_ts', TIME, EVENT_TIME, 'The first of them'),
    col('last_ts', TIME, EVENT_TIME, 'The last of them'),
    INSERTED_AT,
  ],
  engine: 'ReplacingMergeTree',
  partitionBy: 'toDate(ts)',
  orderBy: [
    'host',
    'boot_id',
    'run_id',
    'ts',
    'netns',
    'direction',
    'reason',
    'family',
    'remote_prefix',
    'remote_port',
  ],
  indexes: [],
  ttlFrom: 'toDateTime(ts)',
  // With the host's heartbeats, so a redelivered one's rows meet theirs.
  shardingKey: 'cityHash64(host)',
  settings: { ttl_only_drop_parts: 1 },
};

export const ADDRESSES: TableDefinition = {
  name: 'addresses',
  comment: 'Who an address was, and when: the collector’s Kubernetes address map and inventory',
  columns: [
    col(
      'kind',
      LC,
      TEXT,
      'pod, service (a ClusterIP or a port on it), endpoint, node or inventory',
    ),
    col('range_start', 'IPv6', TEXT, 'The address (IPv4 v4-mapped), or the first of a CIDR'),
    col('range_end', 'IPv6', TEXT, 'The same address, or the last of a CIDR'),
    col('port', 'UInt16', PLAIN, "A service's port, an endpoint's target port; 0: any port"),
    col('protocol', LC, TEXT, 'TCP, UDP or SCTP with a port; empty without one'),
    col('namespace', LC, TEXT, 'Namespace of the pod, service or endpoint'),
    col('name', LC, TEXT, "The pod's, service's, node's or inventory entry's name"),
    col('workload', LC, TEXT, "A pod's workload, Kind/name"),
    col('pod', LC, TEXT, "An endpoint's pod"),
    col('inventory_kind', LC, TEXT, 'An inventory entry: host, service or middlebox'),
    col('labels', 'Map(LowCardinality(String), String)', TEXT, "An inventory entry's labels"),
    col('first_seen', MS_TIME, TEXT, 'When the collector first saw the mapping'),
    col('last_seen', MS_TIME, TEXT, 'When it last saw it hold (re-stamped every 5 minutes)'),
    col(
      'ended',
      `Nullable(${MS_TIME})`,
      TEXT,
      'When the API said it was gone; NULL while it holds',
    ),
    INSERTED_AT,
  ],
  // A mapping is re-written with a later last_seen while it holds and once
  // more when it ends; merges keep the latest. Readers use FINAL or argMax.
  engine: 'ReplacingMergeTree',
  version: 'last_seen',
  // Every row of one mapping has the same first_seen, so they meet in one partition.
  partitionBy: 'toYYYYMM(first_seen)',
  // "Who was 10.244.1.7" is a range of the key; first_seen last tells a
  // mapping seen again after a collector restart from its earlier life.
  orderBy: [
    'range_start',
    'range_end',
    'kind',
    'namespace',
    'name',
    'port',
    'protocol',
    'pod',
    'first_seen',
  ],
  indexes: [],
  ttlFrom: 'toDateTime(last_seen)',
  // An address's rows on one shard, so its versions meet and collapse.
  shardingKey: 'cityHash64(range_start)',
  settings: { ttl_only_drop_parts: 1 },
};

export const TABLES: readonly TableDefinition[] = [RESETS, AGENTS, ADDRESSES, RESET_AGGREGATES];
