// The collector's hot path alone: one 1000-event ResetBatch read from its
// protobuf bytes into TSV lines (the ClickHouse-server path) and into a Native
// block (chDB's), without naming and with both ends named from an address book
// filled from the recorded Kubernetes lists (test/golden/kube) and a small
// inventory. Prints µs per event, the median of --runs runs; with --insert,
// also what embedded ClickHouse spends per row taking 50 such batches in
// each format (CPU of this process, engine threads included).
//
//   node dist/bench/reset-batch-tsv.js [--events 1000] [--rounds 200] [--runs 7]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  readResetBatchNative,
  RESET_NATIVE_COLUMNS,
} from '../collector/ingest/reset-batch-native.js';
import { readResetBatchTsv, RESET_TSV_COLUMNS } from '../collector/ingest/reset-batch-tsv.js';
import {
  AddressBook,
  FlowEndNamer,
  endpointSliceAddresses,
  nodeAddresses,
  parseInventory,
  podAddresses,
  serviceAddresses,
} from '../collector/k8s/index.js';
import type { AddressMapping } from '../collector/k8s/index.js';
import type { EndpointSlice, KubeNode, KubeObject, Pod, Service } from '../k8s/index.js';
import { resetBatchCodec } from '../proto/index.js';
import type { WireResetEvent } from '../proto/index.js';
import { openEmbeddedStorage } from '../test/lab/embedded-storage.js';
import { median } from './median.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '200' },
    runs: { type: 'string', default: '7' },
    insert: { type: 'boolean', default: false },
  },
});
const EVENTS = Number(values.events);
const ROUNDS = Number(values.rounds);
const RUNS = Number(values.runs);

const GOLDEN = join(import.meta.dirname, '..', '..', 'test', 'golden', 'kube');
function items<T extends KubeObject>(file: string): T[] {
  return (JSON.parse(readFileSync(join(GOLDEN, file), 'utf8')) as { items: T[] }).items;
}

function filledBook(): AddressBook {
  const book = new AddressBook();
  const put = (source: string, mappings: AddressMapping[]) => book.set(source, mappings);
  for (const p of items<Pod>('pods.json'))
    put(`Pod/${p.metadata.name}`, podAddresses(p, { kind: 'Deployment', name: 'checkout' }));
  for (const s of items<Service>('services.json'))
    put(`Service/${s.metadata.name}`, serviceAddresses(s));
  for (const e of items<EndpointSlice>('endpointslices.json'))
    put(`EndpointSlice/${e.metadata.name}`, endpointSliceAddresses(e));
  for (const n of items<KubeNode>('nodes.json')) put(`Node/${n.metadata.name}`, nodeAddresses(n));
  // A cluster's worth of pods besides the recorded ones.
  for (let i = 0; i < 5000; i++) {
    const address = `10.245.${i >> 8}.${i & 255}`;
    put(`Pod/bulk-${i}`, [{ kind: 'pod', address, namespace: 'bulk', name: `bulk-${i}` }]);
  }
  book.listed();
  return book;
}

// Local ends: a pod IP (half named by the agent); remote ends: a ClusterIP, a
// pod, a node, an inventory middlebox, nobody.
const REMOTES = ['10.96.12.34', '10.244.2.22', '10.0.0.12', '192.0.2.7', '198.51.100.9'];

function event(i: number, nowNs: bigint): WireResetEvent {
  return {
    ts_unix_ns: String(nowNs + BigInt(i)),
    direction: i % 2 ? 'received' : 'sent',
    reason: i % 2 ? 'UNKNOWN' : 'NO_SOCKET',
    accepted: true,
    state: 'ESTABLISHED',
    prev_state: 'ESTABLISHED',
    family: 'ipv4',
    local_addr: i % 3 ? '10.244.1.12' : `10.245.${(i >> 8) & 15}.${i & 255}`,
    local_port: i % 4 ? 43_000 + (i % 1000) : 8080,
    remote_addr: REMOTES[i % REMOTES.length]!,
    remote_port: 8080,
    netns: 4026531833,
    sock_cookie: String(1000 + i),
    cgroup_id: '12345',
    pid: 1234,
    tid: 1234,
    comm: 'server',
    pid_source: 'context',
    bytes_acked: String(10_000 + i),
    bytes_received: String(20_000 + i),
    segs_in: 10,
    segs_out: 10,
    total_retrans: 0,
    srtt_us: 100,
    snd_una: 1,
    snd_nxt: 2,
    rcv_nxt: 3,
    isn_local: 4,
    isn_remote: 5,
    isn_exact: true,
    unread_bytes: 0,
    unsent_bytes: 0,
    linger_on: false,
    linger_s: 0,
    last_recv_ms: 12,
    pod_uid: i % 2 ? '3f1c2a7e-9b4d-4e21-8c55-0a9d6b7e1f23' : '',
    pod_name: i % 2 ? 'checkout-7d9f8b6c5d-x2x7q' : '',
    pod_namespace: i % 2 ? 'shop' : '',
    container_name: i % 2 ? 'checkout' : '',
    container_id: i % 2 ? '4b1e9c0d'.repeat(8) : '',
    workload: i % 2 ? 'Deployment/checkout' : '',
    pod_labels: i % 2 ? { app: 'checkout', 'pod-template-hash': '7d9f8b6c5d' } : {},
    pod_source: i % 2 ? 'cgroup' : '',
  } as WireResetEvent;
}

const nowNs = BigInt(Date.now()) * 1_000_000n;
const bytes = resetBatchCodec.encode({
  host: 'bench',
  boot_id: 'boot',
  run_id: '1',
  seq: '1',
  events: Array.from({ length: EVENTS }, (_, i) => event(i, nowNs)),
});
const inventory = parseInventory(
  JSON.stringify({ entries: [{ address: '192.0.2.0/24', name: 'nat-gw', kind: 'middlebox' }] }),
);
const namer = new FlowEndNamer({ book: filledBook() }, inventory);
// A collector with no API and no inventory still stores the agent's pod as the local end.
const podOnly = new FlowEndNamer(undefined, undefined);

function usPerEvent(name?: FlowEndNamer): number {
  const started = process.hrtime.bigint();
  for (let r = 0; r < ROUNDS; r++) {
    const read = readResetBatchTsv(bytes, name?.ends);
    if (!read.ok) throw new Error(read.problem);
  }
  return Number(process.hrtime.bigint() - started) / 1000 / (ROUNDS * EVENTS);
}

/** Read and write the block, as the ingester does for chDB. */
function nativeUsPerEvent(name?: FlowEndNamer): number {
  const started = process.hrtime.bigint();
  for (let r = 0; r < ROUNDS; r++) {
    const read = readResetBatchNative(bytes, name?.ends);
    if (!read.ok) throw new Error(read.problem);
    read.batch.block();
  }
  return Number(process.hrtime.bigint() - started) / 1000 / (ROUNDS * EVENTS);
}

const check = readResetBatchTsv(bytes, namer.ends);
if (!check.ok) throw new Error(check.problem);
const named = check.batch.lines.filter((l) => /\t(pod|service|node|inventory)\t/.test(l)).length;
const cases: [string, (name?: FlowEndNamer) => number][] = [
  ['TSV', usPerEvent],
  ['Native', nativeUsPerEvent],
];
for (const [format, measure] of cases) {
  measure();
  measure(namer);
  measure(podOnly);
  const plain: number[] = [];
  const naming: number[] = [];
  const agentPod: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    plain.push(measure());
    naming.push(measure(namer));
    agentPod.push(measure(podOnly));
  }
  const p = median(plain);
  const n = median(naming);
  const a = median(agentPod);
  process.stdout.write(
    `${format}: parse of a ${EVENTS}-event batch (${named} rows with a named end), median of ${RUNS} runs of ${ROUNDS}:\n` +
      `  without naming  ${p.toFixed(2)} µs/event\n` +
      `  with naming     ${n.toFixed(2)} µs/event (+${(n - p).toFixed(2)})\n` +
      `  agent pod only  ${a.toFixed(2)} µs/event (+${(a - p).toFixed(2)}; no API, no inventory)\n`,
  );
}

if (values.insert) {
  const dir = mkdtempSync(join(tmpdir(), 'rstscope-bench-insert-'));
  const storage = await openEmbeddedStorage(dir);
  try {
    const tsv = readResetBatchTsv(bytes, podOnly.ends);
    const native = readResetBatchNative(bytes, podOnly.ends);
    if (!tsv.ok || !native.ok) throw new Error('the batch is refused');
    const BATCHES = 50;
    const text = tsv.batch.lines.join('').repeat(BATCHES);
    const blocks = Array.from({ length: BATCHES }, () => native.batch.block());
    const inserts: [string, () => Promise<void>][] = [
      ['TSV', () => storage.insertTsv('resets', RESET_TSV_COLUMNS, text)],
      [
        'Native',
        () => storage.insertNative!('resets', RESET_NATIVE_COLUMNS, blocks, BATCHES * EVENTS),
      ],
    ];
    process.stdout.write(
      `embedded ClickHouse taking ${BATCHES * EVENTS} rows in one insert, median of ${RUNS}:\n`,
    );
    for (const [format, insert] of inserts) {
      const cpu: number[] = [];
      const wall: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        await insert();
        const c = process.cpuUsage(c0);
        wall.push(Number(process.hrtime.bigint() - t0) / 1000 / (BATCHES * EVENTS));
        cpu.push((c.user + c.system) / (BATCHES * EVENTS));
      }
      process.stdout.write(
        `  ${format.padEnd(7)} ${median(cpu).toFixed(2)} µs CPU/row, ${median(wall).toFixed(2)} µs wall/row\n`,
      );
    }
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
