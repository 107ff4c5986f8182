// Pod and address attribution from the Kubernetes API, against a DOUBLE of the
// API server (test/lab/kube-api-double.ts) serving recorded Pods, ReplicaSets,
// Jobs, Services, EndpointSlices and Nodes: recorded responses, not a cluster.
import { afterEach, describe, expect, it } from 'vitest';
import { PodCache } from '../agent/k8s/pod-cache.js';
import { AddressMap, InventoryError, parseInventory } from '../collector/k8s/index.js';
import { KubeClient, OwnerLookup, fixedToken } from '../k8s/index.js';
import { KubeApiDouble } from './lab/kube-api-double.js';
import { until } from './lab/until.js';

const FAST = { backoff: { initialMs: 10, maxMs: 50 } };
const CHECKOUT_X2 = '3f1c2a7e-9b4d-4e21-8c55-0a9d6b7e1f23';
const PAYMENTS_0 = 'c6e8a0b2-4d6f-4e8a-b0c2-d4e6f8a0b2c4';
const DEBUG_SHELL = 'f0e1d2c3-b4a5-4968-8776-655443322110';
const NEW_CHECKOUT = '0d2f4b6d-8f0b-4d2f-b6d8-0b2d4f6b8d0b';

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function startDouble(
  lists: string[],
): Promise<{ double: KubeApiDouble; client: KubeClient }> {
  const double = await KubeApiDouble.start({ token: 't', lists });
  stops.push(() => double.close());
  return {
    double,
    client: new KubeClient({ server: new URL(double.url), token: fixedToken('t') }),
  };
}

describe('the agent’s pod cache', () => {
  async function syncedPodCache(client: KubeClient, owners = new OwnerLookup(client)) {
    const cache = new PodCache(client, { nodeName: 'node-a', owners, ...FAST });
    stops.push(() => cache.stop());
    await cache.synced;
    return cache;
  }

  it('knows this node’s pods by UID with their workload, containers and addresses', async () => {
    const { client } = await startDouble(['pods.json', 'replicasets.json', 'jobs.json']);
    const cache = await syncedPodCache(client);
    expect(
      cache
        .pods()
        .map((p) => p.name)
        .sort(),
    ).toEqual([
      'checkout-7d9f8b6c5d-x2x7q',
      'debug-shell',
      'node-exporter-7xk2p',
      'payments-0',
      'report-28930140-q8x2z',
    ]);
    expect(cache.byUid(CHECKOUT_X2)).toEqual({
      uid: CHECKOUT_X2,
      name: 'checkout-7d9f8b6c5d-x2x7q',
      namespace: 'shop',
      node: 'node-a',
      labels: { app: 'checkout', 'pod-template-hash': '7d9f8b6c5d' },
      workload: { kind: 'Deployment', name: 'checkout' },
      containerIds: ['4b1e9c0d'.repeat(8)],
      containerNames: { ['4b1e9c0d'.repeat(8)]: 'checkout' },
      podIps: ['10.244.1.12'],
      hostNetwork: false,
      finished: false,
      qosClass: 'Burstable',
    });
    const payments = cache.byUid(PAYMENTS_0)!;
    expect(payments.workload).toEqual({ kind: 'StatefulSet', name: 'payments' });
    expect(payments.containerIds).toEqual(['9a0c3d57'.repeat(8)]);
    expect(cache.byContainerId('9a0c3d57'.repeat(8))?.name).toBe('payments-0');
    expect(cache.byUid(DEBUG_SHELL)?.workload).toEqual({ kind: 'Pod', name: 'debug-shell' });
    const exporter = cache.pods().find((p) => p.name === 'node-exporter-7xk2p')!;
    expect(exporter).toMatchObject({
      hostNetwork: true,
      workload: { kind: 'DaemonSet', name: 'node-exporter' },
    });
    const report = cache.pods().find((p) => p.name === 'report-28930140-q8x2z')!;
    expect(report.workload).toEqual({ kind: 'CronJob', name: 'report' });
    expect(report.finished).toBe(true);
    // What the heartbeats add to the covered addresses: live pods with a namespace of
    // their own (not the host-network exporter, not the finished job).
    expect(cache.podNetworkIps().sort()).toEqual(['10.244.1.12', '10.244.1.13', '10.244.1.14']);
    // Another node's pod is not this agent's business.
    expect(cache.byUid('e2a4c6e8-0b2d-4f6a-8c0e-2a4c6e8a0b2d')).toBeUndefined();
  });

  it('follows the recorded watch: a new pod gets its IP and container, a deleted pod goes, a 410 relists', async () => {
    const { double, client } = await startDouble(['pods.json', 'replicasets.json', 'jobs.json']);
    const cache = await syncedPodCache(client);
    await until(() => double.openWatches === 1, 'the watch to open');
    double.replay('pods', 'watch-pods-node-a.ndjson');
    await until(
      () => cache.stats.relists === 1 && double.openWatches === 1,
      'the relist after the 410',
    );
    expect(cache.byUid(NEW_CHECKOUT)).toMatchObject({
      name: 'checkout-7d9f8b6c5d-m4n8d',
      podIps: ['10.244.1.16'],
      workload: { kind: 'Deployment', name: 'checkout' },
    });
    expect(cache.byContainerId('d6e8fa1c'.repeat(8))?.uid).toBe(NEW_CHECKOUT);
    expect(cache.byUid(DEBUG_SHELL)).toBeUndefined();
    expect(cache.byContainerId('c3d5e7f9'.repeat(8))).toBeUndefined();
  });

  it('without RBAC to read ReplicaSets, names the Deployment from the pod-template-hash and says it inferred it', async () => {
    const { double, client } = await startDouble(['pods.json', 'replicasets.json', 'jobs.json']);
    double.forbid('get', 'replicasets');
    const owners = new OwnerLookup(client);
    const cache = await syncedPodCache(client, owners);
    expect(cache.byUid(CHECKOUT_X2)?.workload).toEqual({
      kind: 'Deployment',
      name: 'checkout',
      inferred: true,
    });
    expect(String(owners.lastError)).toMatch(/RBAC forbids get replicasets.apps in namespace shop/);
  });
});

describe('the collector’s address map', () => {
  async function startMap(now: () => number = Date.now) {
    const { double, client } = await startDouble([
      'pods.json',
      'replicasets.json',
      'jobs.json',
      'services.json',
      'endpointslices.json',
      'nodes.json',
    ]);
    const inventory = parseInventory(
      JSON.stringify({
        entries: [{ address: '192.0.2.0/24', name: 'partner-vpn', kind: 'middlebox' }],
      }),
    );
    const map = new AddressMap(client, {
      owners: new OwnerLookup(client),
      inventory,
      now,
      ...FAST,
    });
    stops.push(() => map.stop());
    await map.synced;
    return { double, map };
  }

  it('resolves a ClusterIP to its service, with or without the port', async () => {
    const { map } = await startMap();
    const checkout = {
      kind: 'service',
      name: 'checkout',
      namespace: 'shop',
      services: ['shop/checkout'],
    };
    expect(map.lookup('10.96.12.34')).toEqual(checkout);
    expect(map.lookup('10.96.12.34', 8080)).toEqual(checkout);
    expect(map.lookup('::ffff:10.96.40.2', 80)).toMatchObject({
      kind: 'service',
      name: 'shop-api',
    });
  });

  it('resolves an endpoint to its pod and every service it serves on that port', async () => {
    const { map } = await startMap();
    expect(map.lookup('10.244.1.12', 8080)).toEqual({
      kind: 'pod',
      name: 'checkout-7d9f8b6c5d-x2x7q',
      namespace: 'shop',
      workload: { kind: 'Deployment', name: 'checkout' },
      services: ['shop/checkout', 'shop/shop-api'],
    });
    expect(map.lookup('10.244.2.22', 9090)?.services).toEqual(['shop/checkout-metrics']);
    expect(map.lookup('10.244.2.22')?.services).toEqual([
      'shop/checkout',
      'shop/checkout-metrics',
      'shop/shop-api',
    ]);
    // The client side of a connection, on an ephemeral port, is the pod without a service.
    expect(map.lookup('10.244.1.12', 43_122)?.services).toEqual([]);
  });

  it('a headless service has no address of its own; its pods carry its name', async () => {
    const { map } = await startMap();
    expect(map.lookup('10.244.1.13', 5432)).toEqual({
      kind: 'pod',
      name: 'payments-0',
      namespace: 'shop',
      workload: { kind: 'StatefulSet', name: 'payments' },
      services: ['shop/payments'],
    });
    expect(map.history().filter((m) => m.kind === 'service' && m.name === 'payments')).toEqual([]);
  });

  it('nodes by every IP address, host-network pods as their node, finished pods and strangers as nobody', async () => {
    const { map } = await startMap();
    expect(map.lookup('10.0.0.11')).toEqual({ kind: 'node', name: 'node-a', services: [] });
    expect(map.lookup('fd00:10:0:0:0:0:0:11')).toEqual({
      kind: 'node',
      name: 'node-a',
      services: [],
    });
    expect(map.lookup('203.0.113.12')).toMatchObject({ kind: 'node', name: 'node-b' });
    // The API server's own endpoint: a service endpoint that is no pod.
    expect(map.lookup('10.0.0.10', 6443)).toMatchObject({
      kind: 'service',
      name: 'kubernetes',
      services: ['default/kubernetes'],
    });
    expect(map.lookup('10.244.1.15')).toBeUndefined();
    expect(map.lookup('192.0.2.77')).toMatchObject({
      kind: 'inventory',
      name: 'partner-vpn',
      inventoryKind: 'middlebox',
    });
    expect(map.lookup('198.51.100.1')).toBeUndefined();
  });

  it('keeps when each mapping was first and last seen, and answers for a time after the pod is gone', async () => {
    let now = 1_000;
    const { double, map } = await startMap(() => now);
    await until(() => double.openWatches === 4, 'four watches');
    now = 5_000;
    double.delete('pods', 'shop', 'payments-0');
    await until(() => map.lookup('10.244.1.13', 5432)?.workload === undefined, 'the pod to go');
    // Its endpoint is still in the slice (the controller has not caught up): the pod by name, no workload.
    expect(map.lookup('10.244.1.13', 5432)).toEqual({
      kind: 'pod',
      name: 'payments-0',
      namespace: 'shop',
      services: ['shop/payments'],
    });
    expect(map.lookup('10.244.1.13', 5432, 3_000)).toMatchObject({
      workload: { kind: 'StatefulSet', name: 'payments' },
    });
    const ended = map.history().find((m) => m.kind === 'pod' && m.name === 'payments-0');
    expect(ended).toMatchObject({ firstSeen: 1_000, lastSeen: 5_000, ended: 5_000 });
    expect(map.lookup('10.244.1.13', 5432, 6_000)?.workload).toBeUndefined();
  });
});

describe('the inventory', () => {
  const inventory = parseInventory(
    JSON.stringify({
      entries: [
        { address: '10.0.0.0/8', name: 'corp', kind: 'host' },
        { address: '10.20.0.0/16', name: 'dc-fra1', kind: 'host', labels: { site: 'fra1' } },
        { address: '10.20.0.1', name: 'nat-gw-1', kind: 'middlebox', labels: { vendor: 'aws' } },
        { address: 'fd00:20::/64', name: 'dc-fra1-v6', kind: 'host' },
        { address: 'fd00:20::443', name: 'billing-lb', kind: 'service' },
      ],
    }),
    'inventory.json',
  );

  it('answers with the longest matching prefix, both families', () => {
    expect(inventory.lookup('10.20.0.1')?.name).toBe('nat-gw-1');
    expect(inventory.lookup('10.20.7.9')?.name).toBe('dc-fra1');
    expect(inventory.lookup('10.99.0.1')?.name).toBe('corp');
    expect(inventory.lookup('::ffff:10.20.0.1')?.name).toBe('nat-gw-1');
    expect(inventory.lookup('fd00:20::443')?.name).toBe('billing-lb');
    expect(inventory.lookup('fd00:20:0:0::9')?.name).toBe('dc-fra1-v6');
    expect(inventory.lookup('11.0.0.1')).toBeUndefined();
    expect(inventory.lookup('not an address')).toBeUndefined();
  });

  it.each([
    ['{', /^inventory\.json:1: not valid JSON \(/],
    ['[]', /^inventory\.json: expected \{"entries": \[/],
    [
      '{"entries":[{"address":"10.0.0.0/33","name":"x","kind":"host"}]}',
      /^inventory\.json:1: entry 1 \(x\): address 10\.0\.0\.0\/33: expected an address or a CIDR, e\.g\. /,
    ],
    [
      '{"entries":[{"address":"10.0.0.1/8","name":"office","kind":"host"}]}',
      /^inventory\.json:1: entry 1 \(office\): 10\.0\.0\.1\/8 has host bits set; write the network \(10\.0\.0\.0\/8\) or a single address$/,
    ],
    [
      '{"entries":[{"address":"10.0.0.1","name":"gw","kind":"router"}]}',
      /^inventory\.json:1: entry 1 \(gw\): kind "router": expected one of host, service, middlebox$/,
    ],
    [
      '{"entries":[{"address":"10.0.0.1","kind":"host"}]}',
      /^inventory\.json:1: entry 1: name is missing; give every entry a name$/,
    ],
    [
      '{"entries":[{"cidr":"10.0.0.0/8","name":"corp","kind":"host"}]}',
      /^inventory\.json:1: entry 1 \(corp\): unknown field "cidr"; the fields are address, name, kind, labels$/,
    ],
    [
      '{"entries":[{"address":"10.0.0.1","name":"a","kind":"host","labels":{"n":1}}]}',
      /^inventory\.json:1: entry 1 \(a\): labels must be an object of strings/,
    ],
    [
      '{"entries":[{"address":"10.0.0.0/8","name":"a","kind":"host"},{"address":"10.0.0.0/8","name":"b","kind":"host"}]}',
      /^inventory\.json:1: entry 2 \(b\): 10\.0\.0\.0\/8 is already a; give each address or CIDR once$/,
    ],
  ])('refuses %s with one line naming the entry', (text, line) => {
    expect(() => parseInventory(text, 'inventory.json')).toThrow(InventoryError);
    expect(() => parseInventory(text, 'inventory.json')).toThrow(line);
  });
});
