// Kubernetes names through the views, the query API and the CLI: hand-made
// resets between named pods (test/lab/reset-rows.ts: checkout → the ClusterIP
// of shop/payments → payments-0; invoicer → ledger-0's endpoint, injected) next
// to unnamed ones, in embedded ClickHouse (chDB) with the real schema, served
// by the real query server on a free port. The names are what a collector with
// attribution stores (its address map is tested against a double of the
// Kubernetes API elsewhere: no cluster runs here).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryClient } from '../cli/query-client.js';
import {
  runDiagnoseCommand,
  runMiddleboxesCommand,
  runResetsCommand,
  runTopCommand,
  runWatchCommand,
} from '../cli/query/index.js';
import { runExplainCommand } from '../cli/query/index.js';
import { startQueryServer } from '../collector/query/index.js';
import type { QueryServer } from '../collector/query/index.js';
import { agentEnds } from '../collector/query/live-ends.js';
import type { FlowEnds } from '../collector/query/live-ends.js';
import { liveResetMatch } from '../collector/query/reset-filter-match.js';
import { parseResetFilter } from '../collector/query/reset-filter.js';
import { unnamed as unnamedEnd } from '../collector/k8s/flow-ends.js';
import type { Storage } from '../collector/storage/storage.js';
import type { FlowEnd, Reset, ResetFilter, TopCausesRequest } from '../proto/index.js';
import { runCaptured } from './lab/captured-io.js';
import type { Captured, CliVerb } from './lab/captured-io.js';
import { clientFailure } from './lab/client-failure.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import {
  ADDR,
  CHECKOUT,
  LEDGER_0,
  PAYMENTS_0,
  PAYMENTS_CLUSTER_IP,
  T0,
  closedPortPair,
  clusterIpAbortPair,
  endpointInjected,
  heartbeatRow,
  idleKill,
  ledgerWatch,
} from './lab/reset-rows.js';
import type { NamedEnd } from './lab/reset-rows.js';
import { closedPortWireEvent } from './lab/wire-events.js';

const WINDOW = ['--from', '2026-11-21T09:00:00Z', '--to', '2026-11-21T11:00:00Z'];
const FROM_NS = String(BigInt(T0 - 3_600_000) * 1_000_000n);
const TO_NS = String(BigInt(T0 + 3_600_000) * 1_000_000n);

let dir = '';
let storage: Storage;
let server: QueryServer;
let client: QueryClient;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rstscope-query-names-'));
  // The rows are dated 2026-11-21: a long retention so TTL never drops them.
  storage = await openEmbeddedStorage(join(dir, 'data'), { retentionDays: 3650 });
  await storage.insert('agents', [
    heartbeatRow('cli', ['10.1.0.2'], 0, 60_000),
    heartbeatRow('srv', ['10.2.0.2'], 0, 60_000),
    ledgerWatch(),
  ]);
  await storage.insert('resets', [
    ...clusterIpAbortPair({ ms: 2000, clientPort: 45_000 }),
    endpointInjected({ ms: 3000, clientPort: 46_000 }),
    // Unnamed: outside Kubernetes, no inventory.
    ...closedPortPair(),
    idleKill({ ms: 4000, clientPort: 41_001, idleMs: 7000 }),
  ]);
  server = await startQueryServer({
    listen: '127.0.0.1:0',
    storage,
    log: pino({ level: 'silent' }),
  });
  client = new QueryClient(server.address);
  env = { RSTSCOPE_SERVER: server.address };
}, 60_000);

afterAll(async () => {
  try {
    client?.close();
    await server?.shutdown();
  } finally {
    try {
      await storage?.close();
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  }
});

const flowEnd = (e: NamedEnd): FlowEnd => ({
  kind: e.kind,
  namespace: e.namespace ?? '',
  name: e.name,
  workload: e.workload ?? '',
  services: e.services ?? [],
});

function filter(fields: Partial<ResetFilter>): ResetFilter {
  return {
    from_unix_ns: FROM_NS,
    to_unix_ns: TO_NS,
    host: '',
    netns: '',
    address: '',
    port: 0,
    direction: '',
    origin: '',
    cause: '',
    namespace: '',
    workload: '',
    service: '',
    pod: '',
    ...fields,
  };
}

async function hostsOf(fields: Partial<ResetFilter>): Promise<string[]> {
  const { resets } = await client.listResets({
    filter: filter(fields),
    page_size: 0,
    page_token: '',
    oldest_first: true,
  });
  return resets.map((r) => r.host).sort();
}

describe('views', () => {
  it('reset_causes names both ends and which is the server', async () => {
    const rows = await storage.query(
      `SELECT host, direction, pod_name, pod_namespace, container_name, workload, pod_source,
              local_kind, local_name, remote_kind, remote_name, remote_services,
              local_is_server, server_endpoint, server_kind, server_namespace, server_name,
              server_workload, server_service, server_label,
              client_kind, client_namespace, client_name, client_workload, client_label
       FROM reset_causes ORDER BY ts`,
    );
    const byHost = new Map(rows.map((r) => [r.host, r]));
    // payments-0's own record: it is the server, checkout the client.
    expect(byHost.get('node-b')).toEqual({
      host: 'node-b',
      direction: 'sent',
      pod_name: 'payments-0',
      pod_namespace: 'shop',
      container_name: 'payments',
      workload: 'StatefulSet/payments',
      pod_source: 'cgroup',
      local_kind: 'pod',
      local_name: 'payments-0',
      remote_kind: 'pod',
      remote_name: CHECKOUT.name,
      remote_services: [],
      local_is_server: true,
      server_endpoint: `${ADDR.payments0}:8080`,
      server_kind: 'pod',
      server_namespace: 'shop',
      server_name: 'payments-0',
      server_workload: 'StatefulSet/payments',
      server_service: 'shop/payments',
      server_label: 'shop/payments',
      client_kind: 'pod',
      client_namespace: 'shop',
      client_name: CHECKOUT.name,
      client_workload: 'Deployment/checkout',
      client_label: 'shop/Deployment/checkout',
    });
    // checkout's record: it talked to the ClusterIP, whose service is the server.
    expect(byHost.get('node-a')).toMatchObject({
      local_is_server: false,
      server_endpoint: `${ADDR.paymentsClusterIp}:8080`,
      server_kind: 'service',
      server_name: 'payments',
      server_workload: '',
      server_service: 'shop/payments',
      server_label: 'shop/payments',
      client_label: 'shop/Deployment/checkout',
    });
    // An end nothing names: empty names, labels by address.
    expect(byHost.get('srv')).toMatchObject({
      pod_name: '',
      server_kind: '',
      server_service: '',
      server_label: '10.2.0.2:7001',
      client_label: '10.1.0.2',
    });
  });

  it('flows, injected_resets and middleboxes carry the names', async () => {
    const flows = await storage.query(
      `SELECT receiver_host, client_label, server_label, server_service FROM flows
       WHERE server_namespace = 'shop'`,
    );
    expect(flows).toEqual([
      {
        receiver_host: 'node-a',
        client_label: 'shop/Deployment/checkout',
        server_label: 'shop/payments',
        server_service: 'shop/payments',
      },
    ]);
    const injected = await storage.query(
      `SELECT host, local_name, remote_name, server_services FROM injected_resets
       WHERE has(server_services, 'billing/ledger')`,
    );
    expect(injected).toEqual([
      {
        host: 'node-c',
        local_name: 'invoicer-5c6b7-xyz12',
        remote_name: 'ledger-0',
        server_services: ['billing/ledger', 'billing/ledger-read'],
      },
    ]);
    const boxes = await storage.query(
      `SELECT source_host, source_names, destination_name FROM middleboxes ORDER BY source_host`,
    );
    expect(boxes).toContainEqual({
      source_host: 'node-c',
      source_names: ['billing/invoicer-5c6b7-xyz12'],
      destination_name: 'billing/ledger-0',
    });
    // The lab's idle kill: nothing named on either side.
    expect(boxes).toContainEqual({ source_host: 'cli', source_names: [], destination_name: '' });
  });
});

describe('ResetFilter names', () => {
  it.each([
    [{ namespace: 'shop' }, ['node-a', 'node-b']],
    [{ namespace: 'billing' }, ['node-c']],
    [{ namespace: 'nowhere' }, []],
    [{ workload: 'checkout' }, ['node-a', 'node-b']],
    [{ workload: 'Deployment/checkout' }, ['node-a', 'node-b']],
    // checkout's record names the ClusterIP, not the StatefulSet behind it.
    [{ workload: 'StatefulSet/payments' }, ['node-b']],
    [{ workload: 'Deployment/payments' }, []],
    // A service at the server end: by its ClusterIP (node-a) or an endpoint (node-b).
    [{ service: 'payments' }, ['node-a', 'node-b']],
    [{ service: 'shop/payments' }, ['node-a', 'node-b']],
    [{ service: 'billing/payments' }, []],
    [{ service: 'ledger-read' }, ['node-c']],
    // The client end's services do not count: checkout serves none, and
    // invoicer's flow is not to shop/payments.
    [{ service: 'billing/ledger', namespace: 'shop' }, []],
    [{ pod: 'payments-0' }, ['node-b']],
    [{ pod: 'shop/checkout-7d9f8-abcde' }, ['node-a', 'node-b']],
    [{ pod: 'billing/checkout-7d9f8-abcde' }, []],
    [{ pod: 'ledger-0', origin: 'injected' }, ['node-c']],
  ] as [Partial<ResetFilter>, string[]][])('%j → %j', async (fields, hosts) => {
    expect(await hostsOf(fields)).toEqual(hosts);
  });

  it.each([
    [{ namespace: 'Shop' }, /^query refused: namespace Shop: expected a Kubernetes namespace/],
    [
      { workload: 'deployment/checkout' },
      /^query refused: workload deployment\/checkout: expected Kind\/name/,
    ],
    [{ workload: 'a/b/c' }, /^query refused: workload a\/b\/c: expected Kind\/name or a name/],
    [
      { service: 'shop/pay_ments' },
      /^query refused: service shop\/pay_ments: expected namespace\/name/,
    ],
    [{ pod: 'x/' }, /^query refused: pod x\/: expected namespace\/name or a name/],
  ] as [Partial<ResetFilter>, RegExp][])(
    'refuses %j with INVALID_ARGUMENT and one line',
    async (fields, detail) => {
      const err = await clientFailure(
        client.listResets({
          filter: filter(fields),
          page_size: 0,
          page_token: '',
          oldest_first: false,
        }),
      );
      expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(err.message).toMatch(detail);
      expect(err.message).not.toContain('\n');
    },
  );

  it('binds names as values, never as SQL', async () => {
    // A name that would be SQL is refused by its form before any query.
    const err = await clientFailure(
      client.topCauses({ filter: filter({ namespace: "x' OR 1=1 --" }), group_by: [], limit: 0 }),
    );
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
  });
});

describe('ListResets and ExplainFlow name the ends', () => {
  it('local_end and remote_end as stored', async () => {
    const { resets } = await client.listResets({
      filter: filter({ namespace: 'shop' }),
      page_size: 0,
      page_token: '',
      oldest_first: true,
    });
    const [sent, received] = resets;
    expect(sent).toMatchObject({
      host: 'node-b',
      local_end: flowEnd(PAYMENTS_0),
      remote_end: flowEnd(CHECKOUT),
    });
    expect(received).toMatchObject({
      host: 'node-a',
      local_end: flowEnd(CHECKOUT),
      remote_end: flowEnd(PAYMENTS_CLUSTER_IP),
    });
    // The agent's pod fields come with the stored event.
    expect(received!.event).toMatchObject({
      pod_name: CHECKOUT.name,
      pod_namespace: 'shop',
      workload: 'Deployment/checkout',
      container_name: 'checkout',
      pod_source: 'cgroup',
    });
    const unnamed = await client.listResets({
      filter: filter({ host: 'cli' }),
      page_size: 0,
      page_token: '',
      oldest_first: true,
    });
    for (const r of unnamed.resets) {
      expect(r.local_end).toEqual(unnamedEnd());
      expect(r.remote_end).toEqual(unnamedEnd());
    }
  });

  it('the story names the ends next to their addresses', async () => {
    const { stories } = await client.explainFlow({
      endpoints: [`${ADDR.checkout}:45000`],
      from_unix_ns: FROM_NS,
      to_unix_ns: TO_NS,
      limit: 0,
    });
    expect(stories).toHaveLength(1);
    expect(stories[0]!.lines[0]).toBe(
      `${ADDR.checkout}:45000 (shop/${CHECKOUT.name} on node-a) received a reset from ` +
        `${ADDR.paymentsClusterIp}:8080 (shop/payments) at 2026-11-21 10:00:02.001000000 UTC, in ESTABLISHED.`,
    );
    expect(stories[0]!.resets.map((r) => r.local_end.name)).toEqual([CHECKOUT.name, 'payments-0']);
  });
});

describe('TopCauses by name', () => {
  const top = (group_by: TopCausesRequest['group_by'], fields: Partial<ResetFilter> = {}) =>
    client.topCauses({ filter: filter(fields), group_by, limit: 0 });

  it('NAMESPACE: the server end’s namespace', async () => {
    const { rows } = await top(['TOP_CAUSES_GROUP_NAMESPACE']);
    expect(rows.map((r) => [r.namespace, r.resets])).toEqual([
      ['', '3'],
      ['shop', '2'],
      ['billing', '1'],
    ]);
    expect(rows.every((r) => r.cause === '' && r.workload === '')).toBe(true);
  });

  it('WORKLOAD: a pod’s workload, a ClusterIP’s service, an unnamed end’s address:port', async () => {
    const { rows } = await top(['TOP_CAUSES_GROUP_WORKLOAD']);
    expect(rows.map((r) => [r.workload, r.resets]).sort()).toEqual(
      [
        ['10.2.0.2:7001', '2'],
        ['10.2.0.2:7010', '1'],
        ['Service/payments', '1'],
        ['StatefulSet/ledger', '1'],
        ['StatefulSet/payments', '1'],
      ].sort(),
    );
  });

  it('SERVICE_PAIR: client workload → server service, both records of a flow alike', async () => {
    const { rows } = await top(['TOP_CAUSES_GROUP_SERVICE_PAIR', 'TOP_CAUSES_GROUP_ORIGIN'], {
      address: '10.244.0.0/16',
    });
    expect(rows.map((r) => [r.client, r.server, r.origin, r.resets])).toEqual([
      ['billing/Deployment/invoicer', 'billing/ledger', 'injected', '1'],
      ['shop/Deployment/checkout', 'shop/payments', 'local', '1'],
      ['shop/Deployment/checkout', 'shop/payments', 'peer', '1'],
    ]);
  });

  it('groups by name and filters by name together', async () => {
    const { rows, total_resets } = await top(
      ['TOP_CAUSES_GROUP_NAMESPACE', 'TOP_CAUSES_GROUP_CAUSE'],
      { service: 'payments' },
    );
    expect(total_resets).toBe('2');
    expect(rows).toEqual([
      expect.objectContaining({ namespace: 'shop', cause: 'app_abort_linger', resets: '2' }),
    ]);
  });
});

describe('live match on names (WatchResets)', () => {
  const event = closedPortWireEvent({
    direction: 'received',
    local_addr: ADDR.checkout,
    local_port: 45_000,
    remote_addr: ADDR.paymentsClusterIp,
    remote_port: 8080,
    pod_name: CHECKOUT.name,
    pod_namespace: 'shop',
    workload: 'Deployment/checkout',
  });
  const named: FlowEnds = { local: flowEnd(CHECKOUT), remote: flowEnd(PAYMENTS_CLUSTER_IP) };
  const matches = (fields: Partial<ResetFilter>, ends: FlowEnds) =>
    liveResetMatch(parseResetFilter(fields))('node-a', event, ends);

  it.each([
    [{ namespace: 'shop' }, true],
    [{ namespace: 'billing' }, false],
    [{ workload: 'checkout' }, true],
    [{ workload: 'StatefulSet/checkout' }, false],
    [{ service: 'shop/payments' }, true],
    [{ service: 'payments', namespace: 'shop', pod: 'checkout-7d9f8-abcde' }, true],
    [{ pod: 'payments-0' }, false],
  ] as [Partial<ResetFilter>, boolean][])('%j → %s, as the stored reset would', (fields, hit) => {
    expect(matches(fields, named)).toBe(hit);
  });

  it('the server end is the one whose port is not ephemeral', () => {
    // The same ends seen from payments-0: its local end serves the service.
    const fromServer = closedPortWireEvent({
      direction: 'sent',
      local_addr: ADDR.payments0,
      local_port: 8080,
      remote_addr: ADDR.checkout,
      remote_port: 45_000,
    });
    const ends = { local: flowEnd(PAYMENTS_0), remote: flowEnd(CHECKOUT) };
    const match = liveResetMatch(parseResetFilter({ service: 'payments' }));
    expect(match('node-b', fromServer, ends)).toBe(true);
    expect(match('node-b', fromServer, { local: ends.remote, remote: ends.local })).toBe(false);
  });

  it("without the collector's naming, the agent's own pod is the local end", () => {
    const ends = agentEnds(event);
    expect(ends).toEqual({
      local: {
        kind: 'pod',
        namespace: 'shop',
        name: CHECKOUT.name,
        workload: 'Deployment/checkout',
        services: [],
      },
      remote: unnamedEnd(),
    });
    expect(matches({ workload: 'Deployment/checkout' }, ends)).toBe(true);
    expect(matches({ pod: 'ledger-0' }, { local: unnamedEnd(), remote: flowEnd(LEDGER_0) })).toBe(
      true,
    );
  });
});

describe('CLI verbs with the name flags', () => {
  const run = (verb: CliVerb, argv: string[]) => runCaptured(verb, argv, env);
  const jsonOut = <T = Record<string, unknown>>(r: Captured): T[] =>
    r.out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as T);

  it('resets --namespace/--workload/--service/--pod keep only those resets, names next to addresses', async () => {
    const text = await run(runResetsCommand, [...WINDOW, '--service', 'shop/payments']);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(
      `${ADDR.payments0}:8080 (shop/payments-0) -> ${ADDR.checkout}:45000 (shop/${CHECKOUT.name})`,
    );
    expect(text.out).toContain(
      `${ADDR.checkout}:45000 (shop/${CHECKOUT.name}) <- ${ADDR.paymentsClusterIp}:8080 (shop/payments)`,
    );
    for (const [flag, value, hosts] of [
      ['--namespace', 'billing', ['node-c']],
      ['--workload', 'StatefulSet/payments', ['node-b']],
      ['--service', 'ledger', ['node-c']],
      ['--pod', 'shop/checkout-7d9f8-abcde', ['node-a', 'node-b']],
    ] as const) {
      const r = await run(runResetsCommand, [...WINDOW, '--json', flag, value]);
      expect(r.code, r.err).toBe(0);
      expect(
        jsonOut<Reset>(r)
          .map((x) => x.host)
          .sort(),
        `${flag} ${value}`,
      ).toEqual(hosts);
    }
  });

  it('top --by namespace, workload and pair', async () => {
    const r = await run(runTopCommand, [...WINDOW, '--by', 'pair', '--namespace', 'shop']);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^resets\s+hosts\s+client\s+server\s+first\s+last\s+example$/);
    expect(lines[1]).toMatch(/^\s*2\s+2\s+shop\/Deployment\/checkout\s+shop\/payments\s/);
    const json = await run(runTopCommand, [...WINDOW, '--by', 'namespace,workload', '--json']);
    expect(jsonOut(json)).toContainEqual(
      expect.objectContaining({
        namespace: 'billing',
        workload: 'StatefulSet/ledger',
        resets: '1',
      }),
    );
    expect(Object.keys(jsonOut(json)[0]!).sort()).toEqual(
      [
        'example',
        'first_unix_ns',
        'hosts',
        'last_unix_ns',
        'namespace',
        'resets',
        'workload',
      ].sort(),
    );
  });

  it('middleboxes, diagnose and explain take the filters or show the names', async () => {
    const boxes = await run(runMiddleboxesCommand, [...WINDOW, '--namespace', 'billing', '--json']);
    expect(boxes.code, boxes.err).toBe(0);
    expect(jsonOut(boxes).map((b) => b.source_host)).toEqual(['node-c']);
    expect(jsonOut(boxes)[0]).toMatchObject({
      source_names: ['billing/invoicer-5c6b7-xyz12'],
      destination_name: 'billing/ledger-0',
    });
    const table = await run(runMiddleboxesCommand, [...WINDOW, '--namespace', 'billing']);
    expect(table.code, table.err).toBe(0);
    expect(table.out).toMatch(/node-c \[billing\/invoicer-5c6b7-xyz12\] → \S+ billing\/ledger-0/);
    const diagnose = await run(runDiagnoseCommand, [...WINDOW, '--workload', 'invoicer']);
    expect(diagnose.code, diagnose.err).toBe(0);
    expect(diagnose.out).toContain('idle_timeout');
    expect(diagnose.out).not.toContain('app_abort_linger');
    const explain = await run(runExplainCommand, [...WINDOW, `${ADDR.payments0}:8080`]);
    expect(explain.code, explain.err).toBe(0);
    expect(explain.out).toContain(`(shop/payments-0 on node-b)`);
  });

  it.each([
    [
      runResetsCommand,
      ['--namespace', 'Shop'],
      /^rstscope resets: --namespace Shop: expected a Kubernetes namespace/,
    ],
    [
      runTopCommand,
      ['--workload', 'x/y/z'],
      /^rstscope top: --workload x\/y\/z: expected Kind\/name/,
    ],
    [
      runTopCommand,
      ['--by', 'pairs'],
      /^rstscope top: --by pairs: expected a comma-separated list of .*namespace, workload, pair/,
    ],
    [
      runMiddleboxesCommand,
      ['--service', 'a/b/c'],
      /^rstscope middleboxes: --service a\/b\/c: expected namespace\/name/,
    ],
    [runWatchCommand, ['--pod', ''], /^rstscope watch: --pod is empty/],
  ] as [CliVerb, string[], RegExp][])(
    'a bad value is one line and exit 2: %#',
    async (verb, argv, line) => {
      const r = await run(verb, argv);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(line);
      expect(r.err.trimEnd()).not.toContain('\n');
    },
  );
});
