// What naming pods costs the agent's hot path: events/s through the attribution
// step (cgroup id → path → pod, or local address → pod) with a warm cache, the
// way the agent runs it between the decoder and publishing. The pods come from
// the DOUBLE of the Kubernetes API server (test/lab/kube-api-double.ts, recorded
// lists), the cgroup ids from a directory tree named like the kubelet's cgroups.
// The mix per batch of 1000: half one containerd container, a fifth a CRI-O
// container, a fifth no-socket resets named by address, a tenth a host service.
// Median of --runs runs.
//
//   node dist/bench/pod-attribution.js [--events 2000000] [--runs 5]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AttributionStep } from '../agent/k8s/attribution-step.js';
import { CgroupIndex } from '../agent/k8s/cgroup-index.js';
import { PodAttribution } from '../agent/k8s/pod-attribution.js';
import { PodCache } from '../agent/k8s/pod-cache.js';
import { KubeClient, OwnerLookup, fixedToken } from '../k8s/index.js';
import type { KubeObject } from '../k8s/index.js';
import type { WireResetEvent } from '../proto/index.js';
import { KubeApiDouble } from '../test/lab/kube-api-double.js';
import { median } from './median.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '2000000' },
    runs: { type: 'string', default: '5' },
  },
});
const total = Number(values.events);
const runs = Number(values.runs);
const BATCH = 1000;

const CGROUPS = {
  checkout:
    'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3f1c2a7e_9b4d_4e21_8c55_0a9d6b7e1f23.slice/' +
    `cri-containerd-${'4b1e9c0d'.repeat(8)}.scope`,
  payments:
    'kubepods.slice/kubepods-podc6e8a0b2_4d6f_4e8a_b0c2_d4e6f8a0b2c4.slice/' +
    `crio-${'9a0c3d57'.repeat(8)}.scope/container`,
  host: 'system.slice/sshd.service',
};

function wireEvent(cgroupId: string, localAddr: string, i: number): WireResetEvent {
  return {
    ts_unix_ns: String(1_795_000_000_000_000_000n + BigInt(i)),
    direction: 'sent',
    reason: 'NO_SOCKET',
    accepted: true,
    state: 'CLOSE',
    prev_state: 'CLOSE',
    family: 'ipv4',
    local_addr: localAddr,
    local_port: 8080,
    remote_addr: '10.244.2.22',
    remote_port: 40000 + (i % 20000),
    netns: 4026532000,
    sock_cookie: String(i),
    cgroup_id: cgroupId,
    pid: 0,
    tid: 0,
    comm: '',
    pid_source: 'none',
    bytes_acked: '0',
    bytes_received: '0',
    segs_in: 0,
    segs_out: 0,
    total_retrans: 0,
    srtt_us: 0,
    snd_una: 0,
    snd_nxt: 0,
    rcv_nxt: 0,
    isn_local: 0,
    isn_remote: 0,
    isn_exact: false,
    unread_bytes: 0,
    unsent_bytes: 0,
    linger_on: false,
    linger_s: 0,
    pod_uid: '',
    pod_name: '',
    pod_namespace: '',
    container_name: '',
    container_id: '',
    workload: '',
    pod_labels: {},
    pod_source: '',
  };
}

const dir = mkdtempSync(join(tmpdir(), 'rstscope-bench-pods-'));
// The double reads its lists beside its source, which dist/ does not have: put them in.
const double = await KubeApiDouble.start({ token: 't', lists: [] });
const GOLDEN = join(import.meta.dirname, '..', '..', 'test', 'golden', 'kube');
for (const [plural, file] of [
  ['replicasets', 'replicasets.json'],
  ['jobs', 'jobs.json'],
  ['pods', 'pods.json'],
  ['pods', 'pods-lab.json'],
] as const) {
  const list = JSON.parse(readFileSync(join(GOLDEN, file), 'utf8')) as { items: KubeObject[] };
  for (const item of list.items) double.put(plural, item);
}
const client = new KubeClient({ server: new URL(double.url), token: fixedToken('t') });
const pods = new PodCache(client, { nodeName: 'node-a', owners: new OwnerLookup(client) });
try {
  await pods.synced;
  const ids: Record<string, string> = {};
  for (const [name, path] of Object.entries(CGROUPS)) {
    mkdirSync(join(dir, path), { recursive: true });
    ids[name] = statSync(join(dir, path), { bigint: true }).ino.toString();
  }
  const index = new CgroupIndex({ root: dir });
  await index.rewalk();

  const batches: WireResetEvent[][] = [];
  for (let b = 0; b < 20; b++) {
    const batch: WireResetEvent[] = [];
    for (let i = 0; i < BATCH; i++) {
      const k = i % 10;
      const at = b * BATCH + i;
      if (k < 5) batch.push(wireEvent(ids.checkout!, '10.244.1.12', at));
      else if (k < 7) batch.push(wireEvent(ids.payments!, '10.244.1.13', at));
      else if (k < 9) batch.push(wireEvent('0', '10.2.0.2', at));
      else batch.push(wireEvent(ids.host!, '10.0.0.11', at));
    }
    batches.push(batch);
  }

  let delivered = 0;
  const deliver = (events: WireResetEvent[]) => (delivered += events.length);
  const step = new AttributionStep(new PodAttribution(pods, index), {
    resolve: (cgroupIds) => Promise.all(cgroupIds.map((id) => index.resolveNext(id))),
    deliver,
  });
  step.accept(batches[0]!); // warm: every cgroup parsed once
  await step.flushed();
  const named = batches[0]!.filter((e) => e.pod_name !== '').length;

  const rate = (through: (batch: WireResetEvent[]) => void) => {
    const rates: number[] = [];
    for (let r = 0; r < runs; r++) {
      const started = process.hrtime.bigint();
      for (let n = 0; n < total; n += BATCH) through(batches[(n / BATCH) % batches.length]!);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      rates.push(total / seconds);
    }
    return median(rates);
  };
  const withStep = rate((batch) => step.accept(batch));
  const without = rate(deliver);
  if (step.stats.waits > 0) throw new Error(`the cache was not warm: ${step.stats.waits} waits`);
  const nsPerEvent = 1e9 / withStep - 1e9 / without;
  console.log(
    JSON.stringify({
      cpu: cpus()[0]?.model,
      events: total,
      runs,
      named_per_1000: named,
      events_per_s_through_step: Math.round(withStep),
      ns_per_event_for_naming: Math.round(nsPerEvent * 10) / 10,
      delivered,
    }),
  );
} finally {
  await pods.stop();
  await double.close();
  rmSync(dir, { recursive: true, force: true });
}
