// The collector when its store fails, for real: the embedded store's disk filled up
// (a tmpfs of its own, filled with a file) while batches keep coming, then freed;
// a ClickHouse server that is not there at startup; and, when a server is given
// (CLICKHOUSE_URL), one cut off mid-run behind a TCP proxy and restored. Each time:
// nothing dead-lettered, every event stored exactly once once the store is back.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RSTSCOPE_BIN } from './lab/agent-runner.js';
import { BatchPublisher } from './lab/batch-publisher.js';
import { CollectorRunner } from './lab/collector-runner.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import { freePort } from './lab/free-port.js';
import { NatsServer } from './lab/nats-server.js';
import { queryRows, waitForRows } from './lab/stored-resets.js';
import { closedPortWireEvent } from './lab/wire-events.js';
import { DEADLETTER_STREAM, DEFAULT_DURABLE, STREAM } from '../proto/nats-topology.js';
import { openStorage } from '../collector/storage/open-storage.js';
import { classifyStoreFailure } from '../collector/storage/store-failure.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `count` closed-port resets, each on its own port, published as the agent would. */
async function publish(publisher: BatchPublisher, count: number, from: number): Promise<void> {
  const events = Array.from({ length: count }, (_, i) =>
    closedPortWireEvent({
      local_port: 1 + ((from + i) % 60_000),
      remote_port: 1024 + (i % 60_000),
    }),
  );
  await publisher.publish(events);
}

/** Rows, and distinct (batch_id, batch_index) pairs: equal when nothing is stored twice. */
async function storedKeys(address: string): Promise<{ rows: number; distinct: number }> {
  const [row] = await queryRows<{ rows: string; distinct: string }>(
    address,
    'SELECT count() AS rows, uniqExact(batch_id, batch_index) AS distinct FROM resets',
  );
  return { rows: Number(row!.rows), distinct: Number(row!.distinct) };
}

async function deadLettered(natsUrl: string): Promise<number> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info(DEADLETTER_STREAM)).state.messages;
  } finally {
    await nc.close();
  }
}

/** Messages JetStream delivered more than once to the collectors' consumer. */
async function redelivered(natsUrl: string): Promise<number> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.consumers.info(STREAM, DEFAULT_DURABLE)).num_redelivered;
  } finally {
    await nc.close();
  }
}

/** Writes until the filesystem is full (ENOSPC), down to its last 4 KiB block. */
function fill(path: string): number {
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    for (const size of [1 << 20, 1 << 12]) {
      const chunk = Buffer.alloc(size, 0x55);
      try {
        for (;;) written += writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

describe('embedded store: the disk fills up and is freed', () => {
  let dir: string;
  let mount: string;
  let mounted = false;
  let nats: NatsServer | undefined;
  let publisher: BatchPublisher | undefined;
  const collectors: CollectorRunner[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rstscope-store-faults-'));
    mount = join(dir, 'disk');
    mkdirSync(mount);
    // Small enough to fill in a moment, large enough for the schema and a few inserts.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mount]);
    mounted = true;
    nats = await NatsServer.start();
  });

  afterAll(async () => {
    for (const c of collectors) await c.kill().catch(() => undefined);
    await publisher?.close().catch(() => undefined);
    await nats?.stop();
    // Lazy: unmounts even if something still holds a file there.
    if (mounted) execFileSync('umount', ['-l', mount]);
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (args: string[] = []) => {
    const c = await CollectorRunner.start(nats!.url, {
      dataDir: join(mount, 'data'),
      // Short, so the outage below lasts several ack waits: what the collector holds
      // must be kept alive (working), not redelivered.
      args: ['--ack-wait-ms', '2000', ...args],
    });
    collectors.push(c);
    return c;
  };

  it('holds what it cannot store, says so once, and stores every event exactly once after; the store checks clean and reopens', async () => {
    const collector = await start();
    publisher = new BatchPublisher([nats!.url], 'disk-host');
    let total = 0;
    await publish(publisher, 3000, total);
    total += 3000;
    expect(await waitForRows(collector.queryAddress, total)).toBe(total);

    const filler = join(mount, 'filler');
    expect(fill(filler)).toBeGreaterThan(0);
    // Batches keep coming while the disk is full.
    for (let i = 0; i < 4; i++) {
      await publish(publisher, 2500, total);
      total += 2500;
    }
    await collector.waitForLog('ClickHouse store: disk full', 60_000);
    // And so does `rstscope fleet`, from the collector's status.
    const fleet = spawnSync(RSTSCOPE_BIN, ['fleet', '--server', collector.queryAddress], {
      encoding: 'utf8',
    });
    expect(fleet.stdout + fleet.stderr).toMatch(
      /STORE FAILING: disk_full since \d\d:\d\d:\d\dZ \(\d+ failed attempts\), \d+ messages held in JetStream/,
    );
    const stored = (await storedKeys(collector.queryAddress)).rows;
    expect(stored).toBeLessThan(total);
    // More while it waits, through a few of its retries and ack waits.
    await sleep(7000);
    await publish(publisher, 2000, total);
    total += 2000;
    expect(await deadLettered(nats!.url)).toBe(0);
    expect(collector.child.exitCode).toBeNull();

    unlinkSync(filler);
    await collector.waitForLog('is back after', 60_000);
    expect(await waitForRows(collector.queryAddress, total, 60_000)).toBe(total);
    expect(await storedKeys(collector.queryAddress)).toEqual({ rows: total, distinct: total });
    expect(await deadLettered(nats!.url)).toBe(0);
    expect(await redelivered(nats!.url)).toBe(0);
    // One line when it failed, one when it was back; never a refusal.
    expect(collector.stderr.match(/ClickHouse store: disk full/g)).toHaveLength(1);
    expect(collector.stderr.match(/ClickHouse store at .* is back after/g)).toHaveLength(1);
    expect(collector.stderr).not.toMatch(/refused a message|dead-letter/);
    expect(await collector.stop()).toBe(0);

    // A collector started again on the same directory opens it and has every row.
    const again = await start();
    expect(await storedKeys(again.queryAddress)).toEqual({ rows: total, distinct: total });
    expect(await again.stop()).toBe(0);

    // No corrupted part: ClickHouse checks every part of every table.
    const storage = await openEmbeddedStorage(join(mount, 'data', 'clickhouse'), {
      migrate: false,
    });
    const checkTables = async () => {
      for (const table of ['resets', 'agents']) {
        const parts = await storage.query<{ part_path: string; is_passed: number }>(
          `CHECK TABLE ${table} SETTINGS check_query_single_value_result = 0`,
        );
        if (table === 'resets') expect(parts.length).toBeGreaterThan(0);
        expect(parts.filter((p) => Number(p.is_passed) !== 1)).toEqual([]);
      }
    };
    try {
      await checkTables();
      // Above, the collector's spool file met the full disk first. The engine's own
      // writes (TSV, as to a server; JSON rows, as heartbeats) fail cleanly too: it
      // reserves the space before it writes a part, so none is left half-written.
      fill(filler);
      const tsv = '2026-11-22T07:00:00Z\tfull-host\tfull-batch\t0\n';
      const columns = ['ts', 'host', 'batch_id', 'batch_index'];
      for (const attempt of [
        () => storage.insertTsv('resets', columns, tsv),
        () => storage.insert('agents', [{ ts: '2026-11-22T07:00:00Z', host: 'full-host' }]),
      ]) {
        const failed = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(classifyStoreFailure(failed)).toMatchObject({ kind: 'disk_full', scope: 'store' });
      }
      unlinkSync(filler);
      await storage.insertTsv('resets', columns, tsv);
      await checkTables();
      const [after] = await storage.query<{ n: string }>('SELECT count() AS n FROM resets');
      expect(Number(after!.n)).toBe(total + 1);
    } finally {
      await storage.close();
    }
  }, 240_000);

  // The shutdown tells the ingester to stop taking before it stops the intake, whose
  // add() would otherwise wait for the store once an insert's worth is in hand.
  it('SIGTERM while the disk is full and an insert is in hand: exits, gives everything back, loses nothing', async () => {
    const filler = join(mount, 'filler');
    const collector = await start(['--max-insert-rows', '1000']);
    publisher ??= new BatchPublisher([nats!.url], 'disk-host');
    const before = (await storedKeys(collector.queryAddress)).rows;
    try {
      fill(filler);
      await publish(publisher, 4000, 1_000_000);
      await collector.waitForLog('ClickHouse store: disk full', 60_000);
      const exit = await Promise.race([
        collector.stop(),
        sleep(20_000).then(() => 'still running'),
      ]);
      expect(exit).toBe(0);
    } finally {
      await collector.kill();
      unlinkSync(filler);
    }
    const again = await start();
    expect(await waitForRows(again.queryAddress, before + 4000, 60_000)).toBe(before + 4000);
    expect(await deadLettered(nats!.url)).toBe(0);
    await again.stop();
  }, 120_000);
});

/** A collector run to its end: its exit code and what it wrote on stderr. */
function runCollector(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(RSTSCOPE_BIN, ['collector', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}

describe('a ClickHouse server that is not there at startup', () => {
  let dir: string;
  beforeAll(() => void (dir = mkdtempSync(join(tmpdir(), 'rstscope-store-faults-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Fatal at startup: the schema must be migrated before the first insert, and a
  // wrong URL that retried for ever would look like a quiet fleet. JetStream keeps
  // the batches meanwhile; a supervisor (Kubernetes) restarts the collector.
  it.each([
    ['nothing listens on its port', async () => ({ port: await freePort(), close: () => {} })],
    [
      'it drops every connection',
      async () => {
        const server = createServer((socket) => socket.destroy());
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        return {
          port: (server.address() as { port: number }).port,
          close: () => void server.close(),
        };
      },
    ],
  ])('%s: one line that names it, exit 1', async (_, listen) => {
    const { port, close } = await listen();
    try {
      const { code, stderr } = await runCollector([
        '--clickhouse-url',
        `http://127.0.0.1:${port}`,
        '--data-dir',
        dir,
        '--nats',
        'nats://127.0.0.1:1',
      ]);
      expect(code).toBe(1);
      const last = stderr.trim().split('\n').at(-1)!;
      expect(last).toMatch(
        new RegExp(
          `^rstscope collector: cannot reach ClickHouse at http://127\\.0\\.0\\.1:${port} \\(.+\\): check the URL and that the server is up`,
        ),
      );
      expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      close();
    }
  });
});

/** A TCP proxy in front of a server, which a test cuts (every connection dropped) and restores. */
class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }): Promise<CuttableProxy> {
    const proxy = new CuttableProxy(await freePort(), target);
    await proxy.restore();
    return proxy;
  }

  restore(): Promise<void> {
    const server = createServer((client) => {
      const upstream = tcpConnect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    this.server = server;
    return new Promise((resolve) => server.listen(this.port, '127.0.0.1', resolve));
  }

  /** Stops listening and drops every connection: the server is unreachable. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((r) => server.close(r));
  }
}

const serverUrl = process.env.CLICKHOUSE_URL;
const noServer = serverUrl ? '' : ' (skipped: no CLICKHOUSE_URL)';
if (noServer) console.warn(`ClickHouse server cut off mid-run${noServer}`);

describe.skipIf(noServer !== '')(`ClickHouse server cut off mid-run${noServer}`, () => {
  const database = `rstscope_faults_${randomBytes(4).toString('hex')}`;
  const credentials = {
    user: process.env.CLICKHOUSE_USER ?? 'default',
    password: process.env.CLICKHOUSE_PASSWORD ?? '',
  };
  let nats: NatsServer | undefined;
  let proxy: CuttableProxy | undefined;
  let collector: CollectorRunner | undefined;
  let publisher: BatchPublisher | undefined;

  beforeAll(async () => {
    const url = new URL(serverUrl!);
    proxy = await CuttableProxy.start({
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 8443 : 8123)),
    });
    nats = await NatsServer.start();
  });

  afterAll(async () => {
    await collector?.dispose();
    await publisher?.close().catch(() => undefined);
    await proxy?.cut();
    await nats?.stop();
    const storage = await openStorage({
      url: serverUrl!,
      ...credentials,
      database,
      dataDir: '',
      retentionDays: 1,
    }).catch(() => undefined);
    await storage?.command(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
    await storage?.close();
  });

  it('backs off while the server is away, and stores every event exactly once when it is back', async () => {
    const through = new URL(serverUrl!);
    through.hostname = '127.0.0.1';
    through.port = String(proxy!.port);
    collector = await CollectorRunner.start(nats!.url, {
      args: [
        '--clickhouse-url',
        through.toString(),
        '--clickhouse-user',
        credentials.user,
        '--clickhouse-database',
        database,
        '--ack-wait-ms',
        '2000',
      ],
    });
    publisher = new BatchPublisher([nats!.url], 'cut-host');
    let total = 0;
    await publish(publisher, 3000, total);
    total += 3000;
    expect(await waitForRows(collector.queryAddress, total)).toBe(total);

    await proxy!.cut();
    await publish(publisher, 5000, total);
    total += 5000;
    await collector.waitForLog('ClickHouse store: unreachable', 60_000);
    await sleep(5000); // a few retries, backing off
    expect(await deadLettered(nats!.url)).toBe(0);
    expect(collector.child.exitCode).toBeNull();

    await proxy!.restore();
    await collector.waitForLog('is back after', 60_000);
    expect(await waitForRows(collector.queryAddress, total, 60_000)).toBe(total);
    expect(await storedKeys(collector.queryAddress)).toEqual({ rows: total, distinct: total });
    expect(await deadLettered(nats!.url)).toBe(0);
    expect(await redelivered(nats!.url)).toBe(0);
    expect(collector.stderr.match(/ClickHouse store: unreachable/g)).toHaveLength(1);
    expect(await collector.stop()).toBe(0);
  }, 240_000);
});
