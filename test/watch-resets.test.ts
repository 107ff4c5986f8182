// WatchResets end to end: a real nats-server, batches published the way the agent
// publishes them, the collector's live feed, ingester and query server in this
// process on embedded ClickHouse, and the CLI's gRPC client. In the lab (root): a
// real agent, a real reset, and the watcher seeing it within a second.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QueryClient } from '../cli/query-client.js';
import { collectorStatusProvider } from '../collector/collector-status.js';
import { Ingester } from '../collector/ingest/ingester.js';
import { NatsIntake } from '../collector/nats-intake.js';
import { NatsResetFeed } from '../collector/query/nats-reset-feed.js';
import { startQueryServer } from '../collector/query/query-server.js';
import type { QueryServer } from '../collector/query/query-server.js';
import { DEFAULT_WATCH_QUEUE_RESETS } from '../collector/query/watch-stream.js';
import { UNDECIDED_FIELDS_PROBLEM } from '../collector/query/reset-filter-match.js';
import type { Storage } from '../collector/storage/storage.js';
import { resetBatchCodec, wireEventCodec } from '../proto/index.js';
import { timestampNs } from '../proto/timestamps.js';
import {
  DEFAULT_STREAM_LIMITS,
  MAX_MESSAGE_BYTES,
  resetsSubject,
  STREAM,
} from '../proto/nats-topology.js';
import type { FlowEnd, ResetFilter, WatchResetsResponse, WireResetEvent } from '../proto/index.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import { BatchPublisher } from './lab/batch-publisher.js';
import { AgentRunner } from './lab/agent-runner.js';
import { Lab } from './lab/lab.js';
import { NatsServer } from './lab/nats-server.js';
import { until } from './lab/until.js';
import { closedPortWireEvent } from './lab/wire-events.js';
import { heartbeatRow } from './lab/reset-rows.js';

interface Watch {
  stream: ClientReadableStream<WatchResetsResponse>;
  responses: WatchResetsResponse[];
  /** When each response arrived (Date.now()). */
  arrivals: number[];
  /** The response headers came: the feed is live for this watch. */
  live: Promise<void>;
  /** The call's final status (OK when the server ended it cleanly). */
  ended: Promise<{ code: number; details: string }>;
  ports(): number[];
}

/** Every watch a test opened, cancelled after it whatever happened. */
const opened: Watch[] = [];

function watch(client: QueryClient, filter: Partial<ResetFilter> = {}): Watch {
  const stream = client.watchResets({ filter });
  const responses: WatchResetsResponse[] = [];
  const arrivals: number[] = [];
  stream.on('data', (r: WatchResetsResponse) => {
    arrivals.push(Date.now());
    responses.push(r);
  });
  const ended = new Promise<{ code: number; details: string }>((resolve) => {
    stream.on('error', (e: { code: number; details: string }) =>
      resolve({ code: e.code, details: e.details }),
    );
    stream.on('end', () => resolve({ code: GrpcStatus.OK, details: '' }));
  });
  const live = new Promise<void>((resolve, reject) => {
    stream.once('metadata', () => resolve());
    void ended.then((s) => reject(new Error(`watch ended before it was live: ${s.details}`)));
  });
  live.catch(() => {});
  const opening: Watch = {
    stream,
    responses,
    arrivals,
    live,
    ended,
    ports: () => responses.map((r) => r.reset.event.local_port).sort((a, b) => a - b),
  };
  opened.push(opening);
  return opening;
}

const pod = (namespace: string, name: string, workload: string, services: string[]): FlowEnd => ({
  kind: 'pod',
  namespace,
  name,
  workload,
  services,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowText = (agoMs: number) =>
  new Date(Date.now() - agoMs).toISOString().replace('T', ' ').replace('Z', '');

let dir = '';
let nats: NatsServer;
let storage: Storage;
let feed: NatsResetFeed;
let intake: NatsIntake;
let ingester: Ingester;
let server: QueryServer;
let client: QueryClient;
let web1: BatchPublisher;
let web2: BatchPublisher;
const logs: { msg: string; level: number }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rstscope-watch-'));
  nats = await NatsServer.start();
  storage = await openEmbeddedStorage(join(dir, 'data'));
  const log = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  // The collector's pieces, wired as run-collector.ts wires them.
  intake = new NatsIntake({
    servers: [nats.url],
    durable: 'watch-test',
    ackWaitMs: 30_000,
    streamLimits: DEFAULT_STREAM_LIMITS,
    log,
  });
  await intake.open();
  ingester = new Ingester(
    storage,
    intake,
    { maxRows: 50_000, maxDelayMs: 100, workingEveryMs: 10_000 },
    MAX_MESSAGE_BYTES,
    log,
  );
  feed = await NatsResetFeed.open({ servers: [nats.url], log });
  server = await startQueryServer({
    listen: '127.0.0.1:0',
    storage,
    log,
    resetFeed: feed,
    collectorStatus: collectorStatusProvider({
      storage: storage.location,
      backlog: () => intake.backlog(),
      counters: ingester.counters,
      store: () => ingester.storeState(),
    }),
  });
  await intake.start(ingester);
  client = new QueryClient(server.address);
  web1 = new BatchPublisher([nats.url], 'web-1');
  web2 = new BatchPublisher([nats.url], 'web-2');
});

afterAll(async () => {
  // Each step runs even when an earlier one failed, so nothing is left behind.
  const steps = [
    () => web1?.close(),
    () => web2?.close(),
    async () => client?.close(),
    () => server?.shutdown(),
    () => feed?.close(),
    () => intake?.stop(),
    () => ingester?.close(),
    () => intake?.close(),
    () => storage?.close(),
    () => nats?.stop(),
    () => (dir ? rm(dir, { recursive: true, force: true }) : undefined),
  ];
  for (const step of steps) await Promise.resolve(step()).catch(() => {});
});

afterEach(async () => {
  for (const w of opened.splice(0)) w.stream.cancel();
  await until(() => feed.watchers === 0, "the test's watches left the feed");
});

describe('WatchResets from NATS', () => {
  it('delivers each published reset as published, under the event id the store gives it', async () => {
    const w = watch(client);
    await w.live;
    const events = [
      closedPortWireEvent({ local_port: 7001, comm: 'first', pid: 41 }),
      closedPortWireEvent({
        direction: 'received',
        reason: 'UNKNOWN',
        state: 'CLOSE',
        prev_state: 'SYN_SENT',
        local_addr: '10.1.0.2',
        local_port: 40_000,
        remote_addr: '10.2.0.2',
        remote_port: 7001,
        rst_ttl: 63,
        peer_ttl: 63,
      }),
    ];
    const published = Date.now();
    const ids = await web1.publish(events);
    await until(() => w.responses.length === 2, 'both resets watched');
    const latencyMs = Date.now() - published;
    w.stream.cancel();

    expect(w.responses.map((r) => r.skipped)).toEqual(['0', '0']);
    expect(w.responses.map((r) => r.reset.event_id)).toEqual(ids);
    for (const [i, r] of w.responses.entries()) {
      expect(r.reset).toMatchObject({ host: 'web-1', boot_id: 'boot-1' });
      // A reset that just happened is not matched yet: no diagnosis.
      expect(r.reset.diagnosis ?? null).toBeNull();
      // Field for field what was published, read back as any decoder reads it.
      expect(r.reset.event).toEqual(wireEventCodec.decode(wireEventCodec.encode(events[i]!)));
    }
    expect(latencyMs).toBeLessThan(1_000);

    // The same ids find the rows the collector stored.
    await until(() => ingester.counters.rows >= 2, 'the batch stored');
    const stored = await storage.query<{ id: string; comm: string }>(
      `SELECT concat(batch_id, '/', toString(batch_index)) AS id, comm FROM resets
       WHERE id IN {ids:Array(String)} ORDER BY id`,
      { ids },
    );
    expect(stored).toEqual([
      { id: ids[0], comm: 'first' },
      { id: ids[1], comm: '' },
    ]);
  });

  it('applies every filter field to live resets, alone and together', async () => {
    await storage.insert('agents', [
      // web-1's older heartbeat called 111 "blue"; its latest calls 222 "blue".
      heartbeatRow('web-1', [], 0, 0, {
        ts: nowText(60_000),
        covered_from: nowText(120_000),
        netns: [111],
        netns_names: ['blue'],
      }),
      heartbeatRow('web-1', [], 0, 0, {
        ts: nowText(1_000),
        covered_from: nowText(120_000),
        netns: [222, 111],
        netns_names: ['blue', 'red'],
      }),
      heartbeatRow('web-2', [], 0, 0, {
        ts: nowText(1_000),
        covered_from: nowText(120_000),
        netns: [111, 333],
        netns_names: ['blue', 'green'],
      }),
    ]);
    // Each event is known by its local port.
    const onWeb1 = [
      closedPortWireEvent({ local_port: 1001, netns: 111, remote_port: 40_001 }),
      closedPortWireEvent({
        local_port: 1002,
        netns: 222,
        direction: 'received',
        local_addr: '10.1.0.2',
        remote_addr: '10.2.0.2',
        remote_port: 443,
      }),
      closedPortWireEvent({
        local_port: 1005,
        netns: 111,
        direction: 'received',
        remote_addr: '10.2.7.7',
        remote_port: 443,
      }),
    ];
    const onWeb2 = [
      closedPortWireEvent({
        local_port: 1003,
        netns: 111,
        local_addr: '10.3.0.5',
        remote_addr: '192.168.1.9',
        remote_port: 40_003,
      }),
      closedPortWireEvent({
        local_port: 1004,
        netns: 333,
        direction: 'received',
        family: 'ipv6',
        local_addr: 'fd00:2::2',
        remote_addr: 'fd00:1::2',
        remote_port: 8080,
      }),
    ];
    const cases: [Partial<ResetFilter>, number[]][] = [
      [{}, [1001, 1002, 1003, 1004, 1005]],
      [{ host: 'web-1' }, [1001, 1002, 1005]],
      [{ netns: '111' }, [1001, 1003, 1005]],
      [{ netns: 'blue' }, [1002, 1003]],
      [{ netns: 'blue', host: 'web-2' }, [1003]],
      [{ netns: 'green' }, [1004]],
      [{ direction: 'received' }, [1002, 1004, 1005]],
      [{ direction: 'sent' }, [1001, 1003]],
      [{ address: '10.2.0.2' }, [1001, 1002, 1005]],
      [{ address: '10.2.7.0/24' }, [1005]],
      [{ address: '192.168.0.0/16' }, [1003]],
      [{ address: 'fd00:1::/64' }, [1004]],
      [{ address: '::ffff:10.3.0.5' }, [1003]],
      [{ port: 443 }, [1002, 1005]],
      [{ port: 1003 }, [1003]],
      [{ port: 8080, direction: 'received', host: 'web-2' }, [1004]],
      [{ port: 8080, direction: 'sent' }, []],
      // The window is ignored: a watch starts now.
      [{ from_unix_ns: '1', to_unix_ns: '2' }, [1001, 1002, 1003, 1004, 1005]],
    ];
    const watches = cases.map(([filter]) => watch(client, filter));
    await Promise.all(watches.map((w) => w.live));
    await web1.publish(onWeb1);
    await web2.publish(onWeb2);
    await until(
      () => watches.every((w, i) => w.responses.length >= cases[i]![1].length),
      'every watch has its resets',
    );
    // Anything that should not have come has had time to.
    await sleep(300);
    for (const w of watches) w.stream.cancel();
    expect(watches.map((w) => w.ports())).toEqual(cases.map(([, ports]) => ports));
  });

  it.each([
    [{ origin: 'injected' }, UNDECIDED_FIELDS_PROBLEM],
    [{ cause: 'idle_timeout' }, UNDECIDED_FIELDS_PROBLEM],
    [{ address: '10.2.0.0/33' }, /^address 10\.2\.0\.0\/33: expected an address or a CIDR/],
    [{ port: 70_000 }, 'port 70000: expected 1 to 65535'],
    [{ direction: 'sideways' }, 'direction sideways: expected one of sent, received'],
    [{ netns: 'purple' }, /^netns purple: no namespace of that name/],
    [{ namespace: 'Shop' }, /^namespace Shop: expected a Kubernetes namespace/],
    [{ pod: 'a/b/c' }, /^pod a\/b\/c: expected namespace\/name or a name/],
  ] as [Partial<ResetFilter>, string | RegExp][])(
    'refuses the filter %j with INVALID_ARGUMENT and one line',
    async (filter, detail) => {
      const { code, details } = await watch(client, filter).ended;
      expect(code).toBe(GrpcStatus.INVALID_ARGUMENT);
      if (typeof detail === 'string') expect(details).toBe(detail);
      else expect(details).toMatch(detail);
      expect(details).not.toMatch(/\n/);
      // The CLI's one line for it.
      expect(client.describe({ code, details }).message).toMatch(/^query refused: /);
    },
  );

  it("names the ends with the collector's naming and filters live resets by name", async () => {
    // The collector's naming (QueryServiceDeps.flowEnds) as a fixed table of
    // addresses: what run-collector passes from its address map and inventory.
    const names: Record<string, FlowEnd> = {
      '10.244.1.5': pod('shop', 'checkout-7d9f8-abcde', 'Deployment/checkout', []),
      '10.96.0.20': {
        kind: 'service',
        namespace: 'shop',
        name: 'payments',
        workload: '',
        services: ['shop/payments'],
      },
      '10.244.2.7': pod('shop', 'payments-0', 'StatefulSet/payments', ['shop/payments']),
    };
    const unnamed: FlowEnd = { kind: '', namespace: '', name: '', workload: '', services: [] };
    const named = await startQueryServer({
      listen: '127.0.0.1:0',
      storage,
      log: pino({ level: 'silent' }),
      resetFeed: feed,
      flowEnds: (e: WireResetEvent) => ({
        local: names[e.local_addr] ?? unnamed,
        remote: names[e.remote_addr] ?? unnamed,
      }),
    });
    const namedClient = new QueryClient(named.address);
    try {
      const cases: [Partial<ResetFilter>, number[]][] = [
        [{}, [2002, 2003, 45_001]],
        [{ namespace: 'shop' }, [2002, 45_001]],
        [{ service: 'payments' }, [2002, 45_001]],
        [{ workload: 'StatefulSet/payments' }, [2002]],
        [{ pod: 'shop/checkout-7d9f8-abcde' }, [2002, 45_001]],
        [{ namespace: 'billing' }, []],
      ];
      const watches = cases.map(([filter]) => watch(namedClient, filter));
      await Promise.all(watches.map((w) => w.live));
      await web1.publish([
        // checkout's socket (an ephemeral port): it called the ClusterIP.
        closedPortWireEvent({
          direction: 'received',
          local_addr: '10.244.1.5',
          local_port: 45_001,
          remote_addr: '10.96.0.20',
          remote_port: 8080,
          pod_name: 'checkout-7d9f8-abcde',
          pod_namespace: 'shop',
          workload: 'Deployment/checkout',
        }),
        // payments-0 answering checkout (a low port of its own: the server end by rule).
        closedPortWireEvent({
          local_addr: '10.244.2.7',
          local_port: 2002,
          remote_addr: '10.244.1.5',
          remote_port: 45_000,
        }),
        closedPortWireEvent({ local_port: 2003 }),
      ]);
      await until(
        () => watches.every((w, i) => w.responses.length >= cases[i]![1].length),
        'every watch has its resets',
      );
      await sleep(300);
      for (const w of watches) w.stream.cancel();
      expect(watches.map((w) => w.ports())).toEqual(cases.map(([, ports]) => ports));
      const [first, second, third] = watches[0]!.responses.map((r) => r.reset);
      expect(first!.event.local_port).toBe(45_001);
      expect(first).toMatchObject({
        local_end: names['10.244.1.5'],
        remote_end: names['10.96.0.20'],
      });
      expect(second).toMatchObject({
        local_end: names['10.244.2.7'],
        remote_end: names['10.244.1.5'],
      });
      expect(third).toMatchObject({ local_end: unnamed, remote_end: unnamed });
    } finally {
      namedClient.close();
      await named.shutdown();
    }
  });

  it("without the collector's naming: the agent's pod is the local end; --service is refused", async () => {
    const w = watch(client, { namespace: 'shop' });
    await w.live;
    await web1.publish([
      closedPortWireEvent({
        local_port: 3001,
        pod_name: 'checkout-1',
        pod_namespace: 'shop',
        workload: 'Deployment/checkout',
      }),
      closedPortWireEvent({ local_port: 3002 }),
    ]);
    await until(() => w.responses.length >= 1, 'the named reset watched');
    await sleep(300);
    expect(w.ports()).toEqual([3001]);
    expect(w.responses[0]!.reset.local_end).toEqual({
      kind: 'pod',
      namespace: 'shop',
      name: 'checkout-1',
      workload: 'Deployment/checkout',
      services: [],
    });
    const refused = await watch(client, { service: 'shop/payments' }).ended;
    expect(refused.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(refused.details).toBe(
      'service shop/payments: this collector names no remote ends (start it with --kube or --inventory)',
    );
  });

  it('drops for a reader that stalls, says how many, and never slows the others', async () => {
    const slow = watch(client, { host: 'web-1' });
    const fast = watch(client, { host: 'web-1' });
    await Promise.all([slow.live, fast.live]);
    slow.stream.pause();
    // A batch at a time, as a busy agent sends them: the fast reader keeps up
    // with each while the slow one has stopped reading altogether.
    const total = 12_000;
    for (let sent = 0; sent < total; sent += 1000) {
      await web1.publish(
        Array.from({ length: 1000 }, (_, i) =>
          closedPortWireEvent({
            local_port: 2000 + i,
            remote_port: 30_000 + ((sent + i) % 12_000),
          }),
        ),
      );
      await until(() => fast.responses.length === sent + 1000, 'the fast reader kept up');
    }
    expect(fast.responses.every((r) => r.skipped === '0')).toBe(true);

    slow.stream.resume();
    // Let what was queued drain, then one more reset carries the last drops' count.
    for (let seen = -1; slow.responses.length !== seen; await sleep(300)) {
      seen = slow.responses.length;
    }
    await web1.publish([closedPortWireEvent({ local_port: 2999 })]);
    await until(
      () => slow.responses.at(-1)?.reset.event.local_port === 2999,
      'the last reset reached the slow reader',
    );
    slow.stream.cancel();
    fast.stream.cancel();
    const skipped = slow.responses.reduce((sum, r) => sum + Number(r.skipped), 0);
    console.info(
      `slow reader: ${slow.responses.length} of ${total + 1} resets delivered, ${skipped} skipped`,
    );
    expect(skipped).toBeGreaterThan(0);
    expect(slow.responses.length + skipped).toBe(total + 1);
    // The queue and HTTP/2's buffers were used before anything was dropped.
    expect(slow.responses.length).toBeGreaterThan(DEFAULT_WATCH_QUEUE_RESETS);
  });

  it('ignores a malformed message, counts it, and keeps the watch going', async () => {
    const w = watch(client);
    await w.live;
    const before = feed.malformed;
    const nc = await connect({ servers: nats.url });
    try {
      nc.publish(resetsSubject('web-1'), new Uint8Array([0xff, 0xff, 0xff, 0x0f]));
      // A batch that speaks for another host than its subject's.
      nc.publish(
        resetsSubject('web-1'),
        resetBatchCodec.encode({
          ...emptyBatch(),
          host: 'web-2',
          events: [closedPortWireEvent({ local_port: 3001 })],
        }),
      );
      await nc.flush();
    } finally {
      await nc.close();
    }
    await web1.publish([closedPortWireEvent({ local_port: 3002 })]);
    await until(() => w.responses.length === 1, 'the good reset');
    await sleep(200);
    w.stream.cancel();
    expect(w.ports()).toEqual([3002]);
    expect(feed.malformed - before).toBe(2);
    const warned = logs.filter((l) => /live feed ignored a malformed message/.test(l.msg));
    // Once per 1000: the first of this suite's malformed messages only.
    expect(warned).toHaveLength(1);
  });

  it('subscribes on NATS only while someone watches', async () => {
    expect(feed.subscribed).toBe(false);
    const a = watch(client);
    const b = watch(client, { host: 'web-2' });
    await Promise.all([a.live, b.live]);
    expect(feed.watchers).toBe(2);
    expect(feed.subscribed).toBe(true);
    a.stream.cancel();
    await until(() => feed.watchers === 1, 'a left');
    expect(feed.subscribed).toBe(true);
    b.stream.cancel();
    await until(() => feed.watchers === 0, 'b left');
    expect(feed.subscribed).toBe(false);
    expect((await a.ended).code).toBe(GrpcStatus.CANCELLED);
  });

  it("reports the collector's backlog and counters to Fleet", async () => {
    await until(() => ingester.counters.rows > 12_000, 'the bulk stored');
    await until(() => ingester.counters.refused.host_mismatch === 1, 'the impostor dead-lettered');
    // A second durable consumer nobody pulls from sees the whole stream as pending.
    const idle = new NatsIntake({
      servers: [nats.url],
      durable: 'watch-test-idle',
      ackWaitMs: 30_000,
      streamLimits: DEFAULT_STREAM_LIMITS,
      log: pino({ level: 'silent' }),
    });
    await idle.open();
    let idleBacklog;
    try {
      idleBacklog = await idle.backlog();
    } finally {
      await idle.close();
    }
    const nc = await connect({ servers: nats.url });
    let messages: number;
    try {
      messages = (await (await jetstreamManager(nc)).streams.info(STREAM)).state.messages;
    } finally {
      await nc.close();
    }
    expect(idleBacklog).toEqual({ pending: messages, ackPending: 0 });

    // Settled: nothing waits in JetStream for this collector.
    let collector;
    const deadline = Date.now() + 15_000;
    do {
      collector = (await client.fleet({})).collector;
      if (collector.stream_pending === '0' && collector.ack_pending === '0') break;
      await sleep(100);
    } while (Date.now() < deadline);
    const rows = await storage.query<{ n: string }>(
      'SELECT (SELECT count() FROM resets) + (SELECT count() FROM agents) AS n',
    );
    expect(collector).toEqual({
      storage: storage.location,
      stream_pending: '0',
      ack_pending: '0',
      // The three heartbeats above were inserted by the test, not the ingester.
      rows_inserted: String(Number(rows[0]!.n) - 3),
      dead_lettered: '2',
      unavailable: '',
      store_failing: '',
    });
  });

  it('answers UNAVAILABLE without a feed', async () => {
    const bare = await startQueryServer({
      listen: '127.0.0.1:0',
      storage,
      log: pino({ level: 'silent' }),
    });
    const bareClient = new QueryClient(bare.address);
    try {
      const { code, details } = await watch(bareClient).ended;
      expect(code).toBe(GrpcStatus.UNAVAILABLE);
      expect(details).toMatch(/^live resets are not available: this query server has no NATS feed/);
    } finally {
      bareClient.close();
      await bare.shutdown();
    }
  });

  it('ends open watches at shutdown with UNAVAILABLE, and shuts down without waiting', async () => {
    const second = await startQueryServer({
      listen: '127.0.0.1:0',
      storage,
      log: pino({ level: 'silent' }),
      resetFeed: feed,
      shutdownGraceMs: 20_000,
    });
    const secondClient = new QueryClient(second.address);
    try {
      const w = watch(secondClient);
      await w.live;
      const started = Date.now();
      await second.shutdown();
      const tookMs = Date.now() - started;
      expect(await w.ended).toEqual({
        code: GrpcStatus.UNAVAILABLE,
        details: 'collector shutting down',
      });
      expect(tookMs).toBeLessThan(2_000);
      await until(() => feed.watchers === 0, 'the watch left the feed');
      // A watch after shutdown is refused at once.
      const late = watch(secondClient);
      expect((await late.ended).code).toBe(GrpcStatus.UNAVAILABLE);
    } finally {
      secondClient.close();
      await second.shutdown();
    }
  });

  // Last: it stops NATS.
  it('ends the watch with UNAVAILABLE when NATS goes away, and refuses new ones until it is back', async () => {
    const w = watch(client);
    await w.live;
    await nats.pause();
    const { code, details } = await w.ended;
    expect(code).toBe(GrpcStatus.UNAVAILABLE);
    expect(details).toMatch(/^NATS unreachable: lost the connection to /);
    const during = await watch(client).ended;
    expect(during).toMatchObject({ code: GrpcStatus.UNAVAILABLE });
    expect(during.details).toMatch(/^NATS unreachable: /);

    await nats.resume();
    // The feed reconnects by itself (within its 1 s reconnect wait).
    let again: Watch | undefined;
    const deadline = Date.now() + 10_000;
    while (!again && Date.now() < deadline) {
      const attempt = watch(client);
      const first = await Promise.race([attempt.live.then(() => 'live'), attempt.ended]);
      if (first === 'live') again = attempt;
      else await sleep(200);
    }
    expect(again).toBeDefined();
    await web1.publish([closedPortWireEvent({ local_port: 4001 })]);
    await until(() => again!.responses.length === 1, 'a reset after NATS came back');
    again!.stream.cancel();
  });
});

const root = process.getuid?.() === 0;

// After the suite above: its NATS is back, and the query server still serves.
describe.skipIf(!root)(
  `WatchResets in the lab${root ? '' : ' (skipped: needs root for network namespaces and eBPF)'}`,
  () => {
    let lab: Lab | undefined;
    let agent: AgentRunner | undefined;

    beforeAll(async () => {
      lab = Lab.create();
      agent = await AgentRunner.start([
        ...lab.namespaces(lab.client, lab.server).flatMap((ns) => ['--netns', ns]),
        '--nats',
        nats.url,
        '--host',
        'lab-watch',
      ]);
    });

    afterAll(async () => {
      try {
        await agent?.stop();
      } finally {
        lab?.destroy();
      }
    });

    it('delivers a new reset within 1 s of the kernel sending it', async () => {
      const { client: from, server: to } = lab!;
      const port = 9; // nothing listens there: the server's kernel answers a SYN with RST
      const w = watch(client, { host: 'lab-watch', port });
      await w.live;
      const provoked = Date.now();
      lab!.spawn(from, ['bash', '-c', `exec 3<>/dev/tcp/${to.ipv4}/${port}`]);
      await until(() => w.responses.length >= 2, 'both ends of the reset watched', 5_000);
      await sleep(300);
      expect(w.responses).toHaveLength(2);

      const byDirection = new Map(w.responses.map((r, i) => [r.reset.event.direction, i]));
      const sentAt = byDirection.get('sent')!;
      const receivedAt = byDirection.get('received')!;
      const sent = w.responses[sentAt]!.reset.event;
      const received = w.responses[receivedAt]!.reset.event;
      expect(sent).toMatchObject({
        reason: 'NO_SOCKET',
        local_addr: to.ipv4,
        local_port: port,
        remote_addr: from.ipv4,
      });
      expect(received).toMatchObject({
        // The state the RST found the connecting socket in.
        state: 'SYN_SENT',
        local_addr: from.ipv4,
        local_port: sent.remote_port,
        remote_addr: to.ipv4,
        remote_port: port,
      });
      // Exactly the records the agent made of them.
      for (const watched of [sent, received]) {
        const record = await agent!.waitFor(
          (e) => e.direction === watched.direction && e.local_port === watched.local_port,
          `the agent's ${watched.direction} record`,
        );
        expect(watched).toMatchObject({
          ts_unix_ns: String(timestampNs(record.ts)),
          reason: record.reason,
          state: record.state,
          local_addr: record.local_addr,
          local_port: record.local_port,
          remote_addr: record.remote_addr,
          remote_port: record.remote_port,
          netns: record.netns,
        });
      }
      const fromKernelMs = w.responses.map(
        (r, i) =>
          Number(BigInt(w.arrivals[i]!) * 1_000_000n - BigInt(r.reset.event.ts_unix_ns)) / 1e6,
      );
      const fromProvokeMs = Math.max(...w.arrivals) - provoked;
      console.info(
        `watch latency: kernel reset → watcher ${fromKernelMs.map((ms) => ms.toFixed(1)).join(', ')} ms ` +
          `(the two records); provoked → both watched ${fromProvokeMs} ms`,
      );
      expect(Math.max(...fromKernelMs)).toBeLessThan(1_000);
      expect(fromProvokeMs).toBeLessThan(1_000);
    });
  },
);

function emptyBatch() {
  return {
    host: 'web-1',
    boot_id: 'boot-1',
    run_id: '1',
    seq: '1',
    events: [] as WireResetEvent[],
  };
}
