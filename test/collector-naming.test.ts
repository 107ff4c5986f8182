// The collector names both ends of every reset as it stores it, and writes who
// each address was, and when, to the addresses table. Real embedded ClickHouse
// (chDB), the real ingester, and a DOUBLE of the Kubernetes API server
// (test/lab/kube-api-double.ts) serving recorded lists (test/golden/kube): no
// cluster can run on these machines. The last suite runs the real collector
// process with a real nats-server.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CollectorConfigError, loadCollectorConfig } from '../collector/index.js';
import { FLOW_END_COLUMNS } from '../collector/ingest/reset-batch-tsv.js';
import { AddressMap, AddressTable, FlowEndNamer, parseInventory } from '../collector/k8s/index.js';
import type { NameFlowEnds } from '../collector/k8s/index.js';
import { singleNodeTableDdl } from '../collector/storage/ddl.js';
import { LATEST_VERSION, MIGRATIONS } from '../collector/storage/migrations.js';
import type { Storage } from '../collector/storage/storage.js';
import { ADDRESSES, RESETS } from '../collector/storage/tables.js';
import { KubeClient, OwnerLookup, fixedToken } from '../k8s/index.js';
import type { WireResetEvent } from '../proto/index.js';
import { RSTSCOPE_BIN } from './lab/agent-runner.js';
import { BatchPublisher } from './lab/batch-publisher.js';
import { CollectorRunner } from './lab/collector-runner.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import { ingestBatch } from './lab/ingest-batch.js';
import { freePort } from './lab/free-port.js';
import { KubeApiDouble } from './lab/kube-api-double.js';
import { NatsServer } from './lab/nats-server.js';
import { queryRows, waitForRows } from './lab/stored-resets.js';
import { until } from './lab/until.js';
import { closedPortWireEvent } from './lab/wire-events.js';

const FAST = { backoff: { initialMs: 10, maxMs: 50 } };
const LISTS = [
  'pods.json',
  'replicasets.json',
  'jobs.json',
  'services.json',
  'endpointslices.json',
  'nodes.json',
];
const INVENTORY = {
  entries: [
    { address: '192.0.2.0/24', name: 'partner-vpn', kind: 'middlebox', labels: { site: 'fra1' } },
    { address: '10.20.0.1', name: 'nat-gw-1', kind: 'middlebox' },
  ],
};
// An hour ago, on the millisecond: inside the retention, so TTL leaves the rows.
const BASE = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
const ns = (ms: number) => `${BigInt(ms) * 1_000_000n + 42n}`;
const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

let dir: string;
let storage: Storage;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rstscope-naming-'));
  storage = await openEmbeddedStorage(join(dir, 'data'));
});

afterAll(async () => {
  await storage?.close();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function startDouble(): Promise<KubeApiDouble> {
  const double = await KubeApiDouble.start({ token: 't', lists: LISTS });
  stops.push(() => double.close());
  return double;
}

const ingest = (seq: number, events: WireResetEvent[], nameEnds: NameFlowEnds) =>
  ingestBatch(storage, 'naming-host', seq, events, nameEnds);

const end = (
  kind: string,
  namespace: string,
  name: string,
  workload = '',
  services: string[] = [],
) => ({ kind, namespace, name, workload, services });
const NOBODY = end('', '', '');

describe('naming both ends as the ingester stores them', () => {
  it('a pod, a ClusterIP, an endpoint pod with its services, a node, inventory entries, nobody; at the reset’s time', async () => {
    const double = await startDouble();
    const client = new KubeClient({ server: new URL(double.url), token: fixedToken('t') });
    let now = BASE;
    const map = new AddressMap(client, {
      owners: new OwnerLookup(client),
      now: () => now,
      ...FAST,
    });
    stops.push(() => map.stop());
    await map.synced;
    await until(() => double.openWatches === 4, 'four watches');
    const inventory = parseInventory(JSON.stringify(INVENTORY));
    const table = new AddressTable({
      storage,
      map,
      inventory,
      log: pino({ level: 'silent' }),
      now: () => now,
    });
    const written = await table.flush();
    expect(written).toBe(map.history().length + 2);
    // payments-0 goes a minute later; its EndpointSlice still lists it.
    now = BASE + 60_000;
    double.delete('pods', 'shop', 'payments-0');
    await until(() => map.lookup('10.244.1.13', 5432)?.workload === undefined, 'the pod to go');

    const namer = new FlowEndNamer(map, inventory);
    const event = (o: Partial<WireResetEvent>) =>
      closedPortWireEvent({ ts_unix_ns: ns(BASE + 30_000), ...o });
    const checkout = {
      pod_name: 'checkout-7d9f8b6c5d-x2x7q',
      pod_namespace: 'shop',
      workload: 'Deployment/checkout',
      pod_source: 'cgroup',
    };
    await ingest(
      1,
      [
        // 0: the agent's pod, serving on 8080, to a pod on an ephemeral port.
        event({
          ...checkout,
          local_addr: '10.244.1.12',
          local_port: 8080,
          remote_addr: '10.244.2.22',
          remote_port: 43_122,
        }),
        // 1: a pod the agent did not name, to a ClusterIP.
        event({
          local_addr: '10.244.2.21',
          local_port: 40_000,
          remote_addr: '10.96.12.34',
          remote_port: 8080,
        }),
        // 2: a node to an endpoint pod of two services.
        event({
          local_addr: '10.0.0.12',
          local_port: 50_000,
          remote_addr: '10.244.1.12',
          remote_port: 8080,
        }),
        // 3: an inventory host to an inventory CIDR; 4: to nobody.
        event({ local_addr: '10.20.0.1', remote_addr: '192.0.2.77', remote_port: 443 }),
        event({ local_addr: '198.51.100.2', remote_addr: '198.51.100.1', remote_port: 443 }),
        // 5, 6: the deleted pod, before and after it went.
        event({ remote_addr: '10.244.1.13', remote_port: 5432 }),
        event({
          ts_unix_ns: ns(BASE + 120_000),
          remote_addr: '10.244.1.13',
          remote_port: 5432,
        }),
        // 7: the agent's pod as a client (no service on its ephemeral port), IPv6 stranger.
        event({
          ...checkout,
          family: 'ipv6',
          local_addr: 'fd00:10::99',
          local_port: 41_000,
          remote_addr: 'fd00:10::11',
          remote_port: 22,
        }),
      ],
      namer.ends,
    );
    const rows = await storage.query<Record<string, unknown>>(
      `SELECT ${FLOW_END_COLUMNS.join(', ')} FROM resets WHERE batch_id = 'naming-host/boot/1/1' ORDER BY batch_index`,
    );
    const ends = rows.map((r) => ({
      local: end(
        r.local_kind as string,
        r.local_namespace as string,
        r.local_name as string,
        r.local_workload as string,
        r.local_services as string[],
      ),
      remote: end(
        r.remote_kind as string,
        r.remote_namespace as string,
        r.remote_name as string,
        r.remote_workload as string,
        r.remote_services as string[],
      ),
    }));
    const checkoutPod = (services: string[] = []) =>
      end('pod', 'shop', 'checkout-7d9f8b6c5d-x2x7q', 'Deployment/checkout', services);
    expect(ends).toEqual([
      {
        local: checkoutPod(['shop/checkout', 'shop/shop-api']),
        remote: end('pod', 'shop', 'checkout-7d9f8b6c5d-k9p4m', 'Deployment/checkout'),
      },
      {
        local: end('pod', 'shop', 'payments-1', 'StatefulSet/payments'),
        remote: end('service', 'shop', 'checkout', '', ['shop/checkout']),
      },
      { local: end('node', '', 'node-b'), remote: checkoutPod(['shop/checkout', 'shop/shop-api']) },
      { local: end('inventory', '', 'nat-gw-1'), remote: end('inventory', '', 'partner-vpn') },
      { local: NOBODY, remote: NOBODY },
      {
        local: NOBODY,
        remote: end('pod', 'shop', 'payments-0', 'StatefulSet/payments', ['shop/payments']),
      },
      // Gone from the pods, still an endpoint: the pod by name, its workload unknown.
      { local: NOBODY, remote: end('pod', 'shop', 'payments-0', '', ['shop/payments']) },
      { local: checkoutPod(), remote: end('node', '', 'node-a') },
    ]);

    // The addresses table: first written at BASE, the deleted pod's end within a flush.
    now = BASE + 70_000;
    expect(await table.flush()).toBeGreaterThanOrEqual(1);
    const payments = await storage.query(
      "SELECT kind, toString(range_start) AS address, namespace, name, workload, first_seen, last_seen, ended FROM addresses FINAL WHERE name = 'payments-0' ORDER BY kind",
    );
    expect(payments).toEqual([
      {
        kind: 'pod',
        address: '::ffff:10.244.1.13',
        namespace: 'shop',
        name: 'payments-0',
        workload: 'StatefulSet/payments',
        first_seen: iso(BASE),
        last_seen: iso(BASE + 60_000),
        ended: iso(BASE + 60_000),
      },
    ]);
    const cidr = await storage.query(
      "SELECT toString(range_start) AS first, toString(range_end) AS last, inventory_kind, labels FROM addresses FINAL WHERE kind = 'inventory' ORDER BY name",
    );
    expect(cidr).toEqual([
      {
        first: '::ffff:10.20.0.1',
        last: '::ffff:10.20.0.1',
        inventory_kind: 'middlebox',
        labels: {},
      },
      {
        first: '::ffff:192.0.2.0',
        last: '::ffff:192.0.2.255',
        inventory_kind: 'middlebox',
        labels: { site: 'fra1' },
      },
    ]);
    // Nothing new within five minutes; after them, every live mapping re-stamped, ended ones not.
    now = BASE + 200_000;
    expect(await table.flush()).toBe(0);
    now = BASE + 400_000;
    const live = map.history().filter((m) => m.ended === undefined).length;
    expect(await table.flush()).toBe(live + 2);
    const [node] = await storage.query<{ rows: string; last_seen: string }>(
      "SELECT count() AS rows, max(last_seen) AS last_seen FROM addresses WHERE kind = 'node' AND name = 'node-a' AND toString(range_start) = '::ffff:10.0.0.11'",
    );
    expect(node).toEqual({ rows: '2', last_seen: iso(BASE + 400_000) });

    // docs/storage.md's "who was this address then", as written there.
    const who = (at: number) =>
      storage.query(
        `SELECT kind, namespace, name, workload, port FROM addresses FINAL
         WHERE range_start <= toIPv6({a:String}) AND toIPv6({a:String}) <= range_end
           AND first_seen <= {t:DateTime64(3)}
           AND {t:DateTime64(3)} <= coalesce(ended, last_seen + INTERVAL 5 MINUTE)
         ORDER BY kind, port`,
        { a: '10.244.1.13', t: iso(at) },
      );
    expect(await who(BASE + 30_000)).toEqual([
      { kind: 'endpoint', namespace: 'shop', name: 'payments', workload: '', port: 5432 },
      {
        kind: 'pod',
        namespace: 'shop',
        name: 'payments-0',
        workload: 'StatefulSet/payments',
        port: 0,
      },
    ]);
    expect(await who(BASE + 90_000)).toEqual([
      { kind: 'endpoint', namespace: 'shop', name: 'payments', workload: '', port: 5432 },
    ]);
  });

  it('a failed write of the address map is one log line, and the next flush writes it', async () => {
    const lines: string[] = [];
    const log = { warn: (m: string) => lines.push(m), info: (m: string) => lines.push(m) };
    let refuse = true;
    const table = new AddressTable({
      storage: {
        insert: (t, rows) =>
          refuse ? Promise.reject(new Error('connection refused\nat …')) : storage.insert(t, rows),
      },
      inventory: parseInventory(
        JSON.stringify({ entries: [{ address: '203.0.113.0/28', name: 'lb', kind: 'service' }] }),
      ),
      log: log as never,
    });
    expect(await table.flush()).toBe(0);
    expect(await table.flush()).toBe(0);
    expect(lines).toEqual([
      'cannot write the address map to ClickHouse, will retry every flush: connection refused',
    ]);
    refuse = false;
    expect(await table.flush()).toBe(1);
    expect(lines.at(-1)).toBe('address map written to ClickHouse again');
    const [row] = await storage.query(
      "SELECT name, toString(range_end) AS last FROM addresses WHERE name = 'lb'",
    );
    expect(row).toEqual({ name: 'lb', last: '::ffff:203.0.113.15' });
  });
});

describe('migration 5', () => {
  it('gives a database that version 4 left an addresses table, and keeps its resets', async () => {
    await storage.command('DROP TABLE addresses SYNC');
    await storage.command('TRUNCATE TABLE schema_migrations');
    for (const { version, name } of MIGRATIONS.filter((m) => m.version <= 4)) {
      await storage.command(
        'INSERT INTO schema_migrations (version, name) SELECT {version:UInt32}, {name:String}',
        { version, name },
      );
    }
    await storage.insert('resets', [
      {
        ts: new Date(BASE).toISOString(),
        host: 'v4-host',
        local_addr: '10.0.0.1',
        remote_addr: '10.0.0.2',
        batch_id: 'v4/boot/1/1',
        batch_index: 0,
      },
    ]);
    // 5 and every later one (their statements are idempotent: IF NOT EXISTS).
    await expect(storage.migrate()).resolves.toEqual({
      applied: MIGRATIONS.filter((m) => m.version >= 5).map((m) => m.version),
      current: LATEST_VERSION,
    });
    const columns = await storage.query(
      "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'addresses' ORDER BY position",
    );
    expect(columns).toEqual(ADDRESSES.columns.map(({ name, type }) => ({ name, type })));
    const [engine] = await storage.query<{ engine_full: string }>(
      "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'addresses'",
    );
    expect(engine?.engine_full).toMatch(
      /^ReplacingMergeTree\(last_seen\) PARTITION BY toYYYYMM\(first_seen\) .*TTL toDateTime\(last_seen\) \+ toIntervalDay\(14\)/,
    );
    const [kept] = await storage.query(
      "SELECT host, local_kind, pod_labels FROM resets WHERE batch_id = 'v4/boot/1/1'",
    );
    expect(kept).toEqual({ host: 'v4-host', local_kind: '', pod_labels: {} });
    await expect(storage.migrate()).resolves.toEqual({ applied: [], current: LATEST_VERSION });
    // The same statement a fresh database runs.
    expect(MIGRATIONS.find((m) => m.version === 5)?.statements).toEqual([
      singleNodeTableDdl(ADDRESSES),
    ]);
    expect(RESETS.columns.some((c) => c.since === 5)).toBe(false);
  });
});

describe('collector flags', () => {
  const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadCollectorConfig(argv, env);

  it('--inventory: a bad file is one line naming the file and line; a good one is loaded', () => {
    const bad = join(dir, 'bad-inventory.json');
    writeFileSync(
      bad,
      '{\n  "entries": [\n    { "address": "10.0.0.0/8", "name": "corp", "kind": "host" },\n    { "address": "10.0.0.1", "name": "gw", "kind": "router" }\n  ]\n}\n',
    );
    expect(() => load(['--inventory', bad])).toThrow(CollectorConfigError);
    expect(() => load(['--inventory', bad])).toThrow(
      `--inventory ${bad}:4: entry 2 (gw): kind "router": expected one of host, service, middlebox`,
    );
    const good = join(dir, 'inventory.json');
    writeFileSync(good, JSON.stringify(INVENTORY));
    expect(load(['--inventory', good]).inventory?.lookup('192.0.2.9')?.name).toBe('partner-vpn');
    expect(() => load(['--inventory', join(dir, 'missing.json')])).toThrow(
      /^--inventory .*missing\.json: cannot read the inventory \(ENOENT\)$/,
    );

    const run = spawnSync(RSTSCOPE_BIN, ['collector', '--inventory', bad], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([
      `rstscope collector: --inventory ${bad}:4: entry 2 (gw): kind "router": expected one of host, service, middlebox`,
    ]);
  });

  it('--kube: off by default outside a pod; --kube-api names the server; a bad mode is one line', () => {
    expect(load([]).kube).toBeUndefined();
    const config = load(['--kube-api', 'http://127.0.0.1:6443']).kube;
    expect(config?.server.href).toBe('http://127.0.0.1:6443/');
    expect(() => load(['--kube', 'sometimes'])).toThrow(CollectorConfigError);
    expect(() => load(['--kube', 'sometimes'])).toThrow(
      /^--kube sometimes: expected auto, on, off/,
    );
    expect(() => load(['--kube', 'off', '--kube-api', 'http://127.0.0.1:6443'])).toThrow(
      /--kube-api has no effect with --kube off/,
    );
  });
});

describe('the collector process, NATS and the API double', () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await NatsServer.start();
  });
  afterAll(async () => {
    await nats?.stop();
  });

  async function collector(args: string[]): Promise<CollectorRunner> {
    const c = await CollectorRunner.start(nats.url, { args });
    stops.push(() => c.dispose());
    return c;
  }

  async function publish(host: string, events: WireResetEvent[]): Promise<void> {
    const publisher = new BatchPublisher([nats.url], host);
    try {
      await publisher.publish(events);
    } finally {
      await publisher.close();
    }
  }

  it('stores both ends by name and writes the addresses table', async () => {
    const double = await startDouble();
    const token = join(dir, 'kube-token');
    writeFileSync(token, 't\n');
    const inventory = join(dir, 'process-inventory.json');
    writeFileSync(inventory, JSON.stringify(INVENTORY));
    const c = await collector([
      '--kube-api',
      double.url,
      '--kube-token-file',
      token,
      '--inventory',
      inventory,
    ]);
    await c.waitForLog('naming pods, services and nodes from http://127.0.0.1');
    await publish('named-host', [
      closedPortWireEvent({ remote_addr: '10.96.12.34', remote_port: 8080 }),
      closedPortWireEvent({
        local_addr: '10.244.1.13',
        local_port: 5432,
        remote_addr: '192.0.2.1',
      }),
    ]);
    expect(await waitForRows(c.queryAddress, 2)).toBe(2);
    const rows = await queryRows(
      c.queryAddress,
      "SELECT local_kind, local_name, local_workload, local_services, remote_kind, remote_name FROM resets WHERE host = 'named-host' ORDER BY batch_index",
    );
    expect(rows).toEqual([
      {
        local_kind: '',
        local_name: '',
        local_workload: '',
        local_services: [],
        remote_kind: 'service',
        remote_name: 'checkout',
      },
      {
        local_kind: 'pod',
        local_name: 'payments-0',
        local_workload: 'StatefulSet/payments',
        local_services: ['shop/payments'],
        remote_kind: 'inventory',
        remote_name: 'partner-vpn',
      },
    ]);
    // Five pods with their own IP and two inventory entries, within a flush (10 s).
    const named = async () =>
      (
        await queryRows<{ name: string }>(
          c.queryAddress,
          "SELECT DISTINCT name FROM addresses WHERE kind IN ('pod', 'inventory') ORDER BY name",
        )
      ).map((r) => r.name);
    const deadline = Date.now() + 15_000;
    while ((await named()).length < 7 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await named()).toEqual([
      'checkout-7d9f8b6c5d-k9p4m',
      'checkout-7d9f8b6c5d-x2x7q',
      'debug-shell',
      'nat-gw-1',
      'partner-vpn',
      'payments-0',
      'payments-1',
    ]);
  });

  it('with neither API nor inventory it still stores the agent’s pod as the local end', async () => {
    const c = await collector([]);
    await publish('pod-host', [
      closedPortWireEvent({
        local_addr: '10.244.1.13',
        pod_name: 'payments-0',
        pod_namespace: 'shop',
        workload: 'StatefulSet/payments',
        pod_source: 'cgroup',
      }),
    ]);
    expect(await waitForRows(c.queryAddress, 1)).toBe(1);
    const rows = await queryRows(
      c.queryAddress,
      "SELECT local_kind, local_namespace, local_name, local_workload, remote_kind FROM resets WHERE host = 'pod-host'",
    );
    expect(rows).toEqual([
      {
        local_kind: 'pod',
        local_namespace: 'shop',
        local_name: 'payments-0',
        local_workload: 'StatefulSet/payments',
        remote_kind: '',
      },
    ]);
  });

  it('with the API unreachable it still stores every reset, unnamed, and says so once', async () => {
    const port = await freePort();
    const c = await collector(['--kube-api', `http://127.0.0.1:${port}`]);
    await publish('unnamed-host', [
      closedPortWireEvent({ remote_addr: '10.96.12.34', remote_port: 8080 }),
    ]);
    expect(await waitForRows(c.queryAddress, 1)).toBe(1);
    const rows = await queryRows(
      c.queryAddress,
      "SELECT remote_kind, remote_name FROM resets WHERE host = 'unnamed-host'",
    );
    expect(rows).toEqual([{ remote_kind: '', remote_name: '' }]);
    // The reflectors keep retrying (backoff) while the line stays one.
    await new Promise((r) => setTimeout(r, 1500));
    expect(c.stderr.split(`Kubernetes API http://127.0.0.1:${port}`).length - 1).toBe(1);
    expect(c.stderr).toMatch(/storing resets without pod and service names until it answers/);
  });
});
