// The agent's pod-naming step without the kernel: a real CgroupIndex on a
// directory tree named like the kubelet's cgroups (the index reads only
// directories and inode numbers), a real PodCache fed by a DOUBLE of the
// Kubernetes API server (test/lab/kube-api-double.ts, recorded lists; not a
// cluster), and wire events as the decoder makes them.
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatResetLine } from '../agent/format.js';
import { AttributionStep } from '../agent/k8s/attribution-step.js';
import { CgroupIndex } from '../agent/k8s/cgroup-index.js';
import { PodAttribution } from '../agent/k8s/pod-attribution.js';
import { PodCache } from '../agent/k8s/pod-cache.js';
import { toResetEvent } from '../agent/reset-event.js';
import { KubeClient, OwnerLookup, fixedToken } from '../k8s/index.js';
import type { Pod } from '../k8s/index.js';
import type { WireResetEvent } from '../proto/index.js';
import { KubeApiDouble } from './lab/kube-api-double.js';
import { until } from './lab/until.js';
import { closedPortWireEvent } from './lab/wire-events.js';

const CHECKOUT_UID = '3f1c2a7e-9b4d-4e21-8c55-0a9d6b7e1f23';
const CHECKOUT_ID = '4b1e9c0d'.repeat(8);
const PAYMENTS_UID = 'c6e8a0b2-4d6f-4e8a-b0c2-d4e6f8a0b2c4';
const PAYMENTS_ID = '9a0c3d57'.repeat(8);
const FAST = { backoff: { initialMs: 10, maxMs: 50 } };

const slice = (uid: string) => uid.replaceAll('-', '_');
const ino = (path: string) => statSync(path, { bigint: true }).ino.toString();

let dir: string;
let double: KubeApiDouble;
let pods: PodCache;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rstscope-pod-step-'));
  double = await KubeApiDouble.start({
    token: 't',
    lists: ['pods.json', 'pods-lab.json', 'replicasets.json', 'jobs.json'],
  });
  const client = new KubeClient({ server: new URL(double.url), token: fixedToken('t') });
  pods = new PodCache(client, { nodeName: 'node-a', owners: new OwnerLookup(client), ...FAST });
  await pods.synced;
});

afterAll(async () => {
  await pods?.stop();
  await double?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A cgroup directory under the test tree; returns its id (inode) as the BPF side records it. */
function cgroup(path: string): string {
  mkdirSync(join(dir, path), { recursive: true });
  return ino(join(dir, path));
}

const checkoutPath = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${slice(CHECKOUT_UID)}.slice/cri-containerd-${CHECKOUT_ID}.scope`;
const paymentsPath = `kubepods.slice/kubepods-pod${slice(PAYMENTS_UID)}.slice/crio-${PAYMENTS_ID}.scope/container`;

/** A closed-port reset as the decoder makes it: pod fields empty, for the step to fill. */
function event(fields: Partial<WireResetEvent>): WireResetEvent {
  return closedPortWireEvent({
    netns: 4026531840,
    sock_cookie: '0',
    cgroup_id: '0',
    pid: 0,
    comm: '',
    pod_uid: '',
    pod_name: '',
    pod_namespace: '',
    container_name: '',
    container_id: '',
    workload: '',
    pod_labels: {},
    pod_source: '',
    ...fields,
  });
}

describe('the pod cache learns what naming needs', () => {
  it('container names by runtime id, and pod IPs of pods with their own network only', () => {
    expect(pods.byUid(CHECKOUT_UID)?.containerNames).toEqual({ [CHECKOUT_ID]: 'checkout' });
    expect(pods.byContainerId(PAYMENTS_ID)?.containerNames[PAYMENTS_ID]).toBe('payments');
    expect(pods.byPodIp('10.244.1.12')?.name).toBe('checkout-7d9f8b6c5d-x2x7q');
    expect(pods.byPodIp('10.2.0.2')?.name).toBe('echo-0');
    // hostNetwork pods have the node's address: naming by it would name the wrong one.
    expect(pods.byPodIp('10.1.0.2')).toBeUndefined();
    expect(pods.byPodIp('10.0.0.11')).toBeUndefined();
    // Another node's pod.
    expect(pods.byPodIp('10.244.2.22')).toBeUndefined();
  });

  it('an IP handed to a new pod stays the new pod’s when the old one goes', async () => {
    const client = new KubeClient({ server: new URL(double.url), token: fixedToken('t') });
    const cache = new PodCache(client, { nodeName: 'node-a', owners: new OwnerLookup(client) });
    try {
      await cache.synced;
      await until(() => double.openWatches >= 2, 'the watches to open');
      const old = double.items('pods').find((p) => p.metadata.name === 'debug-shell') as Pod;
      const successor = structuredClone(old);
      successor.metadata = {
        ...old.metadata,
        name: 'debug-shell-2',
        uid: 'f0e1d2c3-0000-4968-8776-655443322110',
      };
      double.put('pods', successor);
      await until(() => cache.byPodIp('10.244.1.14')?.name === 'debug-shell-2', 'the new pod');
      double.delete('pods', 'default', 'debug-shell');
      await until(() => cache.byUid(old.metadata.uid) === undefined, 'the old pod to go');
      expect(cache.byPodIp('10.244.1.14')?.name).toBe('debug-shell-2');
    } finally {
      await cache.stop();
      double.delete('pods', 'default', 'debug-shell-2');
    }
  });
});

describe('naming an event', () => {
  let index: CgroupIndex;
  let naming: PodAttribution;
  beforeAll(async () => {
    cgroup(checkoutPath);
    cgroup('system.slice/sshd.service');
    index = new CgroupIndex({ root: dir, rewalkIntervalMs: 50 });
    await index.rewalk();
    naming = new PodAttribution(pods, index);
  });

  it('from a known cgroup, at once: pod, namespace, container, workload and labels', () => {
    const e = event({ cgroup_id: ino(join(dir, checkoutPath)) });
    expect(naming.name([e])).toBeUndefined();
    expect(e).toMatchObject({
      pod_uid: CHECKOUT_UID,
      pod_name: 'checkout-7d9f8b6c5d-x2x7q',
      pod_namespace: 'shop',
      container_name: 'checkout',
      container_id: CHECKOUT_ID,
      workload: 'Deployment/checkout',
      pod_labels: { app: 'checkout', 'pod-template-hash': '7d9f8b6c5d' },
      pod_source: 'cgroup',
    });
  });

  it('by address when the cgroup names no pod (none, or a host service), never a hostNetwork pod', () => {
    const noSocket = event({ cgroup_id: '0', local_addr: '10.2.0.2' });
    const host = event({
      cgroup_id: ino(join(dir, 'system.slice/sshd.service')),
      local_addr: '10.244.1.13',
    });
    const node = event({ cgroup_id: '0', local_addr: '10.1.0.2' });
    expect(naming.name([noSocket, host, node])).toBeUndefined();
    expect(noSocket).toMatchObject({
      pod_name: 'echo-0',
      workload: 'StatefulSet/echo',
      container_name: '',
      pod_source: 'address',
    });
    expect(host).toMatchObject({ pod_name: 'payments-0', pod_source: 'address' });
    expect(node).toMatchObject({ pod_uid: '', pod_name: '', pod_source: '' });
  });

  it('reports a cgroup it has not seen, and names it once a walk has', async () => {
    const id = cgroup(paymentsPath);
    const e = event({ cgroup_id: id, local_addr: '10.9.9.9' });
    expect(naming.name([e])).toEqual(new Set([id]));
    expect(e.pod_source).toBe('');
    expect(await index.resolveNext(id)).toBe(`/${paymentsPath}`);
    expect(naming.name([e])).toBeUndefined();
    expect(e).toMatchObject({
      pod_name: 'payments-0',
      container_name: 'payments',
      workload: 'StatefulSet/payments',
    });
  });

  it('a pod UID the cache does not have: UID and container id from the path', async () => {
    const uid = '11111111-2222-4333-8444-555555555555';
    const id = cgroup(`kubepods/besteffort/pod${uid}/${'ab'.repeat(32)}`);
    await index.resolveNext(id);
    const e = event({ cgroup_id: id });
    naming.name([e]);
    expect(e).toMatchObject({
      pod_uid: uid,
      container_id: 'ab'.repeat(32),
      pod_name: '',
      workload: '',
      pod_labels: {},
      pod_source: 'cgroup',
    });
  });
});

describe('the step between decoder and publishing', () => {
  const delivered: WireResetEvent[][] = [];
  const deliver = (events: WireResetEvent[]) => delivered.push(events);
  afterEach(() => void delivered.splice(0));

  it('passes a batch of known cgroups on synchronously', () => {
    const index = new CgroupIndex({ root: dir });
    const step = new AttributionStep(new PodAttribution(pods, index), {
      resolve: () => Promise.resolve(),
      deliver,
    });
    const batch = [event({ cgroup_id: '0', local_addr: '10.2.0.2' })];
    step.accept(batch);
    expect(delivered).toEqual([batch]);
    expect(step.stats.waits).toBe(0);
  });

  it('holds later batches behind one waiting for a walk, so order is kept, then names it', async () => {
    const index = new CgroupIndex({ root: dir, rewalkIntervalMs: 100 });
    await index.rewalk();
    const fresh = cgroup(
      `kubepods.slice/kubepods-pod${slice(PAYMENTS_UID)}.slice/crio-${PAYMENTS_ID}.scope/late`,
    );
    const step = new AttributionStep(new PodAttribution(pods, index), {
      resolve: (ids) => Promise.all(ids.map((id) => index.resolveNext(id))),
      deliver,
    });
    const first = [event({ cgroup_id: fresh, local_port: 1 })];
    const second = [event({ cgroup_id: '0', local_port: 2 })];
    step.accept(first);
    step.accept(second);
    expect(delivered).toEqual([]);
    expect(step.holding).toBe(2);
    await step.flushed();
    expect(delivered.map((b) => b[0]!.local_port)).toEqual([1, 2]);
    expect(first[0]).toMatchObject({
      pod_name: 'payments-0',
      container_id: PAYMENTS_ID,
      pod_source: 'cgroup',
    });
    expect(step.stats).toEqual({ waits: 1, timeouts: 0, unwaited: 0 });
  });

  it('never waits longer than maxWaitMs: the batch goes on with what is known', async () => {
    const index = new CgroupIndex({ root: dir });
    const step = new AttributionStep(new PodAttribution(pods, index), {
      resolve: () => new Promise(() => {}),
      deliver,
      maxWaitMs: 50,
    });
    const batch = [event({ cgroup_id: '987654321987', local_addr: '10.2.0.2' })];
    const started = performance.now();
    step.accept(batch);
    await step.flushed();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(delivered).toEqual([batch]);
    expect(batch[0]).toMatchObject({ pod_name: 'echo-0', pod_source: 'address' });
    expect(step.stats.timeouts).toBe(1);
  });

  it('stops waiting once too many events are held, and drops none', async () => {
    const index = new CgroupIndex({ root: dir });
    let resolves = 0;
    const step = new AttributionStep(new PodAttribution(pods, index), {
      resolve: () => {
        resolves++;
        return new Promise((r) => setTimeout(r, 20));
      },
      deliver,
      maxHeldEvents: 3,
    });
    const batches = [1, 2, 3].map((n) => [
      event({ cgroup_id: '987654321987', local_port: n }),
      event({ cgroup_id: '987654321987', local_port: n }),
    ]);
    for (const b of batches) step.accept(b);
    await step.flushed();
    expect(delivered).toEqual(batches);
    // The first began waiting with 2 held; meanwhile 6 were held, so the second
    // (4 held, over 3) went on unwaited; the last (2 held) waited again.
    expect(step.stats).toMatchObject({ waits: 2, unwaited: 1 });
    expect(resolves).toBe(2);
  });
});

describe('printing', () => {
  it('shows namespace/pod (container) when known, and --json carries the fields only then', () => {
    const named = event({
      pod_uid: CHECKOUT_UID,
      pod_name: 'checkout-7d9f8b6c5d-x2x7q',
      pod_namespace: 'shop',
      container_name: 'checkout',
      container_id: CHECKOUT_ID,
      workload: 'Deployment/checkout',
      pod_labels: { app: 'checkout' },
      pod_source: 'cgroup',
    });
    const printed = toResetEvent(named, 'node-a', 'boot');
    expect(printed).toMatchObject({
      pod_name: 'checkout-7d9f8b6c5d-x2x7q',
      workload: 'Deployment/checkout',
      pod_labels: { app: 'checkout' },
    });
    expect(formatResetLine(printed, 'cni-1')).toMatch(
      / cni-1 shop\/checkout-7d9f8b6c5d-x2x7q \(checkout\) /,
    );

    const byAddress = toResetEvent(
      event({ ...named, container_name: '', container_id: '', pod_source: 'address' }),
      'n',
      'b',
    );
    expect(formatResetLine(byAddress, 'cni-1')).toMatch(
      / cni-1 shop\/checkout-7d9f8b6c5d-x2x7q sent /,
    );

    const unnamed = toResetEvent(event({}), 'node-a', 'boot');
    expect('pod_name' in unnamed).toBe(false);
    expect(formatResetLine(unnamed, 'cni-1')).toMatch(/ cni-1 sent /);
  });
});
