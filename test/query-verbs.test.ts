// The CLI's query verbs end to end without a lab: embedded ClickHouse (chDB)
// holding hand-made resets and heartbeats, the real query server on a free port,
// and each verb run through its run…Command(argv, env, io) with its output
// captured. WatchResets runs on a real nats-server, fed by batches published as
// an agent publishes them.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryClient } from '../cli/query-client.js';
import {
  runDiagnoseCommand,
  runExplainCommand,
  runFleetCommand,
  runMiddleboxesCommand,
  runResetsCommand,
  runTopCommand,
  runWatchCommand,
} from '../cli/query/index.js';
import { collectorLine } from '../cli/query/fleet-command.js';
import type { QueryIo } from '../cli/query/query-verb.js';
import { listResets } from '../cli/query/resets-command.js';
import { resetLine, skippedLine } from '../cli/query/reset-text.js';
import { runSqlCommand } from '../cli/sql-command.js';
import { NatsResetFeed } from '../collector/query/nats-reset-feed.js';
import { unnamed as unnamedEnd } from '../collector/k8s/flow-ends.js';
import { startQueryServer } from '../collector/query/index.js';
import type { QueryServer } from '../collector/query/index.js';
import type { Storage } from '../collector/storage/storage.js';
import { resetBatchCodec } from '../proto/index.js';
import type { Reset, WireResetEvent } from '../proto/index.js';
import { resetsSubject } from '../proto/nats-topology.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import { captureIo, runCaptured } from './lab/captured-io.js';
import type { Captured, CliVerb, IoExtras } from './lab/captured-io.js';
import { RSTSCOPE_BIN } from './lab/agent-runner.js';
import { freePort } from './lab/free-port.js';
import { NatsServer } from './lab/nats-server.js';
import { until } from './lab/until.js';
import {
  abortPair,
  closedPortPair,
  heartbeatRow,
  idleKill,
  resetRow,
  rowTime,
  synSentReset,
  v4,
} from './lab/reset-rows.js';
import { closedPortWireEvent } from './lab/wire-events.js';

// The rows lie in [T0, T0 + 1 min) (T0 = 2026-11-21T10:00:00Z); this window holds them all.
const WINDOW = ['--from', '2026-11-21T09:00:00Z', '--to', '2026-11-21T11:00:00Z'];
const BULK = 25;

let dir = '';
let storage: Storage;
let server: QueryServer;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rstscope-query-verbs-'));
  // The rows are dated 2026-11-21: a long retention so TTL never drops them.
  storage = await openEmbeddedStorage(join(dir, 'data'), { retentionDays: 3650 });
  await storage.insert('agents', [
    heartbeatRow('cli', ['10.1.0.2'], 0, 60_000, {
      netns_names: ['client-ns'],
      seen: 40,
      lost_kernel: 3,
      kernel_release: '6.18.0',
      agent_version: '0.1.0',
    }),
    heartbeatRow('srv', ['10.2.0.2'], 0, 60_000, { netns: [2], netns_names: ['server-ns'] }),
    // Reporting now: live.
    {
      ...heartbeatRow('now-host', ['10.9.0.2'], 0, 0, { all_netns: true }),
      ts: new Date().toISOString().replace('T', ' ').replace('Z', ''),
    },
  ]);
  await storage.insert('resets', [
    ...closedPortPair(),
    ...abortPair({ ms: 2000, port: 8080, clientPort: 41_000 }),
    idleKill({ ms: 3000, clientPort: 41_001, idleMs: 7000 }),
    idleKill({ ms: 3500, clientPort: 41_003, idleMs: 9000 }),
    ...abortPair({ ms: 2500, port: 7010, clientPort: 41_004, survivedMs: 3000 }),
    synSentReset({ ms: 4000, port: 9300, ttl: 64, remote: '10.2.0.2' }),
    // A reset in the client's second namespace, to an IPv6 peer nobody watches.
    resetRow({
      ts: rowTime(5000),
      host: 'cli',
      netns: 7,
      family: 'ipv6',
      direction: 'received',
      state: 'ESTABLISHED',
      local_addr: 'fd00:1::2',
      local_port: 50_000,
      remote_addr: 'fd00:9::9',
      remote_port: 443,
      sock_cookie: 9,
      rst_ttl: 60,
      rst_seq: 5,
      rst_ack: 6,
    }),
    ...Array.from({ length: BULK }, (_, i) =>
      resetRow({
        ts: rowTime(10_000 + i * 10),
        host: 'bulk',
        direction: 'sent',
        reason: 'NO_SOCKET',
        state: 'CLOSE',
        local_addr: v4('10.5.0.2'),
        local_port: 9999,
        remote_addr: v4('10.6.0.2'),
        remote_port: 33_000 + i,
        trigger_flags: 'SYN',
        trigger_seq: 100 + i,
      }),
    ),
  ]);
  server = await startQueryServer({
    listen: '127.0.0.1:0',
    storage,
    log: pino({ level: 'silent' }),
  });
  env = { RSTSCOPE_SERVER: server.address };
}, 60_000);

afterAll(async () => {
  try {
    await server?.shutdown();
  } finally {
    try {
      await storage?.close();
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  }
});

/** Runs a verb against this suite's collector. */
const run = (verb: CliVerb, argv: string[], extra: IoExtras = {}) =>
  runCaptured(verb, argv, env, extra);

const jsonOut = <T = Record<string, unknown>>(r: Captured): T[] =>
  r.out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as T);

/** Every column starts where its header does, after two spaces, on every line. */
function expectAligned(lines: string[], columns: string[]): void {
  const header = lines[0]!;
  const starts = columns.map((name) => {
    const at = header.search(new RegExp(`(^|  )${name}( |$)`));
    expect(at, `column ${name} in ${header}`).toBeGreaterThanOrEqual(0);
    return at === 0 ? 0 : at + 2;
  });
  for (const line of lines) {
    for (const start of starts.slice(1)) {
      expect(line.slice(start - 2, start), `${JSON.stringify(line)} at ${start}`).toBe('  ');
      expect(line[start - 3], `${JSON.stringify(line)} before ${start}`).toBeDefined();
    }
  }
}

const tableLines = (text: string) => text.trimEnd().split('\n');

describe('rstscope top', () => {
  it('counts by cause and origin by default, commonest first, as an aligned table', async () => {
    const r = await run(runTopCommand, [...WINDOW]);
    expect(r.code).toBe(0);
    const lines = tableLines(r.out);
    expectAligned(lines, ['resets', 'hosts', 'cause', 'origin', 'first', 'last', 'example']);
    // The bulk host's 25 and srv's reply to a SYN in closedPortPair.
    expect(lines[1]).toMatch(/^\s*26\s+2\s+closed_port\s+local\s/);
    expect(r.out).toMatch(/\s2\s+1\s+idle_timeout\s+injected\s/);
    expect(r.out).toContain('firewall_reject');
    expect(r.err).toMatch(
      /^\d+ resets matched, 2026-11-21 09:00:00.000 → 2026-11-21 11:00:00.000 UTC\n$/,
    );
  });

  it('--by and --limit choose the groups; --json prints only the grouped fields', async () => {
    const r = await run(runTopCommand, [...WINDOW, '--by', 'host', '--limit', '2', '--json']);
    expect(r.code).toBe(0);
    const rows = jsonOut(r);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ host: 'bulk', resets: '25', hosts: '1' });
    expect(Object.keys(rows[0]!).sort()).toEqual(
      ['example', 'first_unix_ns', 'host', 'hosts', 'last_unix_ns', 'resets'].sort(),
    );
    const ports = await run(runTopCommand, [...WINDOW, '--by', 'service,port', '--json']);
    const services = jsonOut<{ service: string; port: number }>(ports);
    expect(services.map((s) => s.port)).toContain(9300);
    expect(services.find((s) => s.port === 9300)?.service).toBe('10.2.0.2:9300');
  });

  it('no resets in the window: a line on stderr, nothing on stdout, exit 0', async () => {
    const r = await run(runTopCommand, ['--from', '2020-01-01', '--to', '2020-01-02']);
    expect(r).toMatchObject({ code: 0, out: '' });
    expect(r.err).toMatch(/^no resets matched, 2020-01-01 00:00:00.000 → 2020-01-02/);
  });
});

describe('the filter flags', () => {
  const resets = async (...flags: string[]) => {
    const r = await run(runResetsCommand, [...WINDOW, '--limit', '1000', '--json', ...flags]);
    expect(r.code, r.err).toBe(0);
    return jsonOut<Reset>(r);
  };

  it.each([
    [['--host', 'cli'], (r: Reset) => r.host === 'cli'],
    [['--netns', '7'], (r: Reset) => r.event.netns === 7],
    [['--netns', 'client-ns'], (r: Reset) => r.host === 'cli' && r.event.netns === 1],
    [
      ['--address', '10.5.0.0/16'],
      (r: Reset) => [r.event.local_addr, r.event.remote_addr].includes('10.5.0.2'),
    ],
    [['--address', 'fd00:9::/32'], (r: Reset) => r.event.remote_addr === 'fd00:9::9'],
    [['--port', '8080'], (r: Reset) => r.event.local_port === 8080 || r.event.remote_port === 8080],
    [['--direction', 'received'], (r: Reset) => r.event.direction === 'received'],
    [['--origin', 'injected'], (r: Reset) => r.diagnosis?.origin === 'injected'],
    [['--cause', 'idle_timeout'], (r: Reset) => r.diagnosis?.cause === 'idle_timeout'],
  ])('%j keeps only the resets it names', async (flags, keeps) => {
    const all = await resets();
    const some = await resets(...flags);
    expect(some.length).toBeGreaterThan(0);
    expect(some.length).toBeLessThan(all.length);
    for (const r of some) expect(keeps(r), JSON.stringify(r.event)).toBe(true);
    expect(
      all
        .filter(keeps)
        .map((r) => r.event_id)
        .sort(),
    ).toEqual(some.map((r) => r.event_id).sort());
  });

  it('the window: --from/--to and --since choose the time', async () => {
    const all = await resets();
    const early = await resets('--from', '2026-11-21T10:00:00Z', '--to', '2026-11-21T10:00:03Z');
    expect(early.length).toBeGreaterThan(0);
    expect(early.length).toBeLessThan(all.length);
    // The rows are hours old: the last minute holds none of them.
    const r = await run(runResetsCommand, ['--since', '1m', '--json']);
    expect(r).toMatchObject({ code: 0, out: '' });
  });

  it('the filters apply to top and middleboxes too', async () => {
    const top = await run(runTopCommand, [...WINDOW, '--host', 'bulk', '--json']);
    expect(jsonOut(top)).toEqual([expect.objectContaining({ cause: 'closed_port', resets: '25' })]);
    const boxes = await run(runMiddleboxesCommand, [...WINDOW, '--port', '9300', '--json']);
    expect(jsonOut(boxes).map((b) => b.destination_port)).toEqual([9300]);
  });
});

describe('rstscope resets', () => {
  it('a table of the newest first; a line when more matched than --limit', async () => {
    const r = await run(runResetsCommand, [...WINDOW, '--host', 'bulk', '--limit', '5']);
    expect(r.code).toBe(0);
    const lines = tableLines(r.out);
    expect(lines).toHaveLength(6);
    expectAligned(lines, [
      'time',
      'host',
      'direction',
      'flow',
      'state',
      'reason',
      'origin',
      'cause',
    ]);
    expect(lines[1]).toContain('2026-11-21 10:00:10.240000  bulk  sent');
    expect(lines[1]).toContain('10.5.0.2:9999 -> 10.6.0.2:33024  no-socket  NO_SOCKET  local');
    expect(r.err).toBe('5 resets (more match; --limit raises the limit)\n');
    const oldest = await run(runResetsCommand, [
      ...WINDOW,
      '--host',
      'bulk',
      '--limit',
      '1',
      '--oldest-first',
    ]);
    expect(oldest.out).toContain('10.6.0.2:33000');
  });

  it('follows next_page_token until the limit, in order and without repeats', async () => {
    const client = new QueryClient(server.address);
    try {
      const request = {
        filter: {
          from_unix_ns: String(BigInt(Date.parse('2026-11-21T09:00:00Z')) * 1_000_000n),
          to_unix_ns: String(BigInt(Date.parse('2026-11-21T11:00:00Z')) * 1_000_000n),
          host: 'bulk',
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
        },
        page_size: 0,
        page_token: '',
        oldest_first: false,
      };
      const paged = await listResets(client, request, 20, 7);
      const whole = await listResets(client, request, 20);
      expect(paged.resets.map((r) => r.event_id)).toEqual(whole.resets.map((r) => r.event_id));
      expect(new Set(paged.resets.map((r) => r.event_id)).size).toBe(20);
      expect(paged.more).toBe(true);
      const all = await listResets(client, request, 100, 7);
      expect(all).toMatchObject({ more: false });
      expect(all.resets).toHaveLength(BULK);
    } finally {
      client.close();
    }
  });
});

describe('rstscope explain', () => {
  it("prints the server's story lines; --json the stories' resets", async () => {
    const r = await run(runExplainCommand, ['10.1.0.2:40001', '10.2.0.2:7001', ...WINDOW]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('10.1.0.2:40001 (cli) received a reset from 10.2.0.2:7001');
    expect(r.out).toMatch(/Cause: closed_port/);
    const json = await run(runExplainCommand, ['10.1.0.2:40001', ...WINDOW, '--json']);
    const resets = jsonOut<Reset>(json);
    expect(resets.map((x) => [x.host, x.event.direction]).sort()).toEqual([
      ['cli', 'received'],
      ['srv', 'sent'],
    ]);
  });

  it('no such flow in the window: one line saying to widen it, exit 1', async () => {
    const r = await run(runExplainCommand, ['10.1.0.2:40001', '--since', '1m']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(
      /^rstscope explain: no reset of 10\.1\.0\.2:40001 between \S+ and \S+; widen the window with --since or --from\/--to\n$/,
    );
  });
});

describe('rstscope diagnose and middleboxes', () => {
  it('diagnose: the top causes, then the middleboxes with their idle-timeout bracket', async () => {
    const r = await run(runDiagnoseCommand, [...WINDOW]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(
      /^Top causes of resets, 2026-11-21T09:00:00.000Z → 2026-11-21T11:00:00.000Z\n\n/,
    );
    expect(r.out).toContain('Middleboxes that injected resets');
    expect(r.out).toMatch(/cli → 10\.2\.0\.2:7010 \(srv\)\s+idle_kill\s+1\s+64 \(peer 63\)/);
    expect(r.out).toContain('> 3.0 s, ≤ 7.0 s');
    expect(r.out).toMatch(/cli → 10\.2\.0\.2:9300 \(srv\)\s+reject_on_connect/);
    const json = jsonOut(await run(runDiagnoseCommand, [...WINDOW, '--json']));
    expect(json.some((line) => 'top_cause' in line)).toBe(true);
    expect(json.some((line) => 'middlebox' in line)).toBe(true);
  });

  it('middleboxes: an aligned table; --json with examples', async () => {
    const r = await run(runMiddleboxesCommand, [...WINDOW]);
    expect(r.code, r.err).toBe(0);
    const lines = tableLines(r.out);
    expectAligned(lines, [
      'resets',
      'path',
      'kind',
      'hop',
      'ttl',
      'ip_id',
      'idle_timeout',
      'known',
      'last_seen',
    ]);
    expect(lines).toHaveLength(3);
    expect(r.err).toMatch(/^2 middleboxes, /);
    const boxes = jsonOut<{ kind: string; example_flows: string[] }>(
      await run(runMiddleboxesCommand, [...WINDOW, '--json', '--limit', '1']),
    );
    expect(boxes).toHaveLength(1);
    expect(boxes[0]!.example_flows.length).toBeGreaterThan(0);
  });
});

describe('rstscope fleet', () => {
  it('one row per agent, live or stale, and the collector line', async () => {
    // now-host's heartbeat was "now" when the suite started, not when this runs.
    const r = await run(runFleetCommand, ['--stale-after', '10m']);
    expect(r.code, r.err).toBe(0);
    const lines = tableLines(r.out);
    const table = lines.slice(0, -1);
    expectAligned(table, [
      'host',
      'status',
      'kernel',
      'version',
      'netns',
      'addresses',
      'seen',
      'stored',
    ]);
    expect(table.map((l) => l.split(/\s+/).slice(0, 2))).toEqual([
      ['host', 'status'],
      ['cli', 'stale'],
      ['now-host', 'live'],
      ['srv', 'stale'],
    ]);
    expect(lines[1]).toMatch(/cli\s+stale\s+6\.18\.0\s+0\.1\.0\s+client-ns\s+10\.1\.0\.2\s+40\s/);
    expect(lines[2]).toMatch(/now-host\s+live\s+\S+\s+\S+\s+all\s+10\.9\.0\.2/);
    expect(lines[2]).toMatch(/\d s ago$/);
    expect(lines.at(-1)).toMatch(
      /^collector: chdb.*; NATS pending 0, ack pending 0; 0 rows inserted; 0 dead-lettered$/,
    );
  });

  it('--host and --stale-after; --json; an unknown host is one line, exit 1', async () => {
    const json = jsonOut(
      await run(runFleetCommand, ['--host', 'cli', '--stale-after', '3650d', '--json']),
    );
    expect(json).toEqual([
      { agent: expect.objectContaining({ host: 'cli', status: 'live' }) },
      { collector: expect.objectContaining({ stream_pending: '0' }) },
    ]);
    const r = await run(runFleetCommand, ['--host', 'nobody']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^rstscope fleet: no heartbeat from host nobody \(is its agent running/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });
});

describe('bad input and an absent collector', () => {
  it.each([
    [
      runTopCommand,
      ['--by', 'colour'],
      /--by colour: expected a comma-separated list of cause, origin/,
    ],
    [runTopCommand, ['--by', 'host,host'], /--by host,host: each field once/],
    [runTopCommand, ['--limit', '0'], /--limit 0: expected a whole number from 1 to 1000/],
    [
      runTopCommand,
      ['--address', '10.0.0.0/33'],
      /--address 10\.0\.0\.0\/33: expected an address or a CIDR/,
    ],
    [runTopCommand, ['--port', 'http'], /--port http: expected 1 to 65535/],
    [runTopCommand, ['--port', '70000'], /--port 70000: expected 1 to 65535/],
    [runTopCommand, ['--direction', 'up'], /--direction up: expected one of sent, received/],
    [runResetsCommand, ['--origin', 'mars'], /--origin mars: expected one of local, peer/],
    [
      runMiddleboxesCommand,
      ['--cause', 'gremlins'],
      /--cause gremlins: expected one of closed_port/,
    ],
    [runDiagnoseCommand, ['--host', ''], /--host is empty/],
    [runResetsCommand, ['--since', '1h', '--from', '2026-11-21'], /either --since or --from\/--to/],
    [runResetsCommand, ['--limit', '1e3'], /--limit 1e3: expected a whole number/],
    [runWatchCommand, ['--since', '1h'], /Unknown option '--since'.*rstscope watch --help/],
    [runWatchCommand, ['--port', '0'], /--port 0: expected 1 to 65535/],
    [runWatchCommand, ['--origin', 'injected'], /--origin and --cause are decided after both ends/],
    [runWatchCommand, ['--cause', 'idle_timeout'], /use 'rstscope resets' or 'rstscope top'/],
    [runFleetCommand, ['--stale-after', 'soon'], /--stale-after soon: expected an age/],
    [runFleetCommand, ['web-1'], /unexpected argument web-1/],
    [
      runExplainCommand,
      ['10.1.0.2:1', '--limit', '5000'],
      /--limit 5000: expected a whole number from 1 to 1000/,
    ],
    [runMiddleboxesCommand, ['--server', 'nowhere'], /--server nowhere: expected HOST:PORT/],
  ] as [CliVerb, string[], RegExp][])(
    '%o %j: one line, exit 2, no call',
    async (verb, argv, message) => {
      // No collector at this address: a call would fail with exit 1, not 2.
      const { captured, io } = captureIo();
      const code = await verb(argv, { RSTSCOPE_SERVER: '127.0.0.1:1' }, io);
      expect(code).toBe(2);
      expect(captured.out).toBe('');
      expect(captured.err).toMatch(/^rstscope [a-z]+: /);
      expect(captured.err).toMatch(message);
      expect(captured.err.trim().split('\n')).toHaveLength(1);
    },
  );

  it('every verb against an address nobody answers: one line naming it, exit 1', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    for (const [verb, argv] of [
      [runTopCommand, []],
      [runResetsCommand, []],
      [runMiddleboxesCommand, []],
      [runFleetCommand, []],
      [runDiagnoseCommand, []],
      [runExplainCommand, ['10.1.0.2:1']],
      [runWatchCommand, []],
      [runSqlCommand, ['SELECT 1']],
    ] as [CliVerb, string[]][]) {
      const { captured, io } = captureIo();
      expect(await verb([...argv, '--server', address], {}, io)).toBe(1);
      expect(captured.err).toMatch(
        new RegExp(
          `^rstscope [a-z]+: cannot reach the collector at ${address} .*--server HOST:PORT\\)\\n$`,
        ),
      );
    }
  });
});

describe('progress', () => {
  it('on a TTY, a long call shows "querying ADDRESS… N s" on stderr and clears it', async () => {
    const r = await run(runTopCommand, [...WINDOW], {
      tty: true,
      progressTiming: { delayMs: 0, intervalMs: 5 },
    });
    expect(r.code).toBe(0);
    expect(r.err).toMatch(new RegExp(`^\r\x1b\\[2Kquerying ${server.address}… \\d+ s`));
    // Cleared before the summary line.
    const summary = r.err.lastIndexOf('resets matched');
    expect(r.err.slice(0, summary).replace(/\d+ $/, '').endsWith('\r\u001b[2K')).toBe(true);
    expect(r.out).not.toContain('querying');
  });

  it('with the default delay, only a call longer than a second shows it', async () => {
    // 3 s: long enough that the progress shows even when a loaded machine runs timers late.
    const slow = await run(runSqlCommand, ['SELECT sleepEachRow(1) FROM numbers(3)'], {
      tty: true,
    });
    expect(slow.code, slow.err).toBe(0);
    expect(slow.err).toMatch(new RegExp(`querying ${server.address}… [1-9]\\d* s`));
    const quick = await run(runSqlCommand, ['SELECT 1'], { tty: true });
    expect(quick.err).toBe('1 row\n');
  });

  it('not a TTY (a script): nothing but the answer', async () => {
    const r = await run(runTopCommand, [...WINDOW], {
      progressTiming: { delayMs: 0, intervalMs: 5 },
    });
    expect(r.err).not.toContain('querying');
  });
});

describe('rstscope watch', () => {
  let nats: NatsServer;
  let feed: NatsResetFeed;
  let watchServer: QueryServer;
  let publisher: NatsConnection;
  let seq = 0;

  beforeAll(async () => {
    nats = await NatsServer.start();
    feed = await NatsResetFeed.open({ servers: [nats.url], log: pino({ level: 'silent' }) });
    watchServer = await startQueryServer({
      listen: '127.0.0.1:0',
      storage,
      log: pino({ level: 'silent' }),
      resetFeed: feed,
    });
    publisher = await connect({ servers: nats.url });
  }, 30_000);

  afterAll(async () => {
    try {
      await publisher?.close();
      await watchServer?.shutdown();
      await feed?.close();
    } finally {
      await nats?.stop();
    }
  });

  function publish(host: string, events: WireResetEvent[]): void {
    seq++;
    publisher.publish(
      resetsSubject(host),
      resetBatchCodec.encode({ host, boot_id: 'boot', run_id: '1', seq: String(seq), events }),
    );
  }

  /** Starts a watch; resolves once the collector's feed has its subscription. */
  async function startWatch(argv: string[], io: QueryIo) {
    // The previous test's watch leaves the feed once the server saw its cancel.
    await until(() => feed.watchers === 0, 'the previous watch to end');
    const stop = new AbortController();
    const exit = runWatchCommand([...argv, '--server', watchServer.address], {}, io, stop.signal);
    await until(() => feed.watchers === 1, 'the watch to subscribe');
    // The subscription is live once NATS answered its flush.
    await publisher.flush();
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { stop, exit };
  }

  it('one line per reset as it arrives, filtered; Ctrl-C ends it with exit 0', async () => {
    const { captured, io } = captureIo();
    const { stop, exit } = await startWatch(['--host', 'web-1'], io);
    publish('web-2', [closedPortWireEvent({ local_port: 1111 })]);
    publish('web-1', [
      closedPortWireEvent({ local_port: 2222 }),
      closedPortWireEvent({
        direction: 'received',
        reason: 'UNKNOWN',
        state: 'CLOSE',
        prev_state: 'SYN_SENT',
        sock_cookie: '5',
        local_addr: '10.1.0.2',
        local_port: 40_000,
        remote_addr: '10.2.0.2',
        remote_port: 7001,
        rst_ttl: 63,
        pid: 812,
        comm: 'curl',
      }),
    ]);
    await until(() => captured.out.split('\n').length > 2, 'two lines');
    stop.abort();
    expect(await exit).toBe(0);
    const lines = captured.out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{6} web-1 sent {5}10\.2\.0\.2:2222 -> 10\.1\.0\.2:40000 no-socket NO_SOCKET$/,
    );
    expect(lines[1]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{6} web-1 received 10\.1\.0\.2:40000 <- 10\.2\.0\.2:7001 SYN_SENT>CLOSE RST ttl=63 curl\[812\]$/,
    );
    expect(captured.err).toBe('');
  });

  it('--json: one reset object per line', async () => {
    const { captured, io } = captureIo();
    const { stop, exit } = await startWatch(['--json'], io);
    publish('web-3', [closedPortWireEvent({ local_port: 3333 })]);
    await until(() => captured.out.includes('\n'), 'a line');
    stop.abort();
    expect(await exit).toBe(0);
    const [reset] = jsonOut<Reset>({ code: 0, out: captured.out, err: '' });
    expect(reset).toMatchObject({
      host: 'web-3',
      event: { local_port: 3333, reason: 'NO_SOCKET' },
    });
  });

  it('a reader too slow for the feed is told how many resets it missed', async () => {
    // stdout that is full after the first line, until the test lets it drain.
    let full = true;
    let drain: (() => void) | undefined;
    let out = '';
    const io: QueryIo = {
      stdout: {
        write: (text: string) => {
          out += text;
          return !full;
        },
        once: (_event: 'drain', listener: () => void) => {
          drain = listener;
        },
      } as QueryIo['stdout'],
      stderr: { write: () => true },
    };
    const { stop, exit } = await startWatch([], io);
    try {
      // Far more than the server queues for one watcher plus what HTTP/2 holds.
      for (let b = 0; b < 20; b++) {
        publish(
          'flood',
          Array.from({ length: 500 }, (_, i) => closedPortWireEvent({ local_port: 1 + i })),
        );
      }
      await until(() => drain !== undefined, 'stdout to fill');
      await publisher.flush();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      // The count of what was skipped rides on the next reset the server sends.
      publish('after-flood', [closedPortWireEvent({ local_port: 5555 })]);
      await publisher.flush();
      await new Promise((resolve) => setTimeout(resolve, 500));
      const written = out;
      full = false;
      drain!();
      await until(() => out.includes('after-flood'), 'the reset after the flood', 15_000);
      expect(written).not.toContain('skipped');
      expect(out).toMatch(/\n\(\d+ resets skipped: reading too slowly\)\n\d\d:\S+ after-flood /);
    } finally {
      stop.abort();
    }
    expect(await exit).toBe(0);
  }, 30_000);

  it('a watch the collector ends: one line, exit 1', async () => {
    const own = await startQueryServer({
      listen: '127.0.0.1:0',
      storage,
      log: pino({ level: 'silent' }),
      resetFeed: feed,
    });
    const { captured, io } = captureIo();
    await until(() => feed.watchers === 0, 'the previous watch to end');
    const exit = runWatchCommand(['--server', own.address], {}, io, new AbortController().signal);
    await until(() => feed.watchers === 1, 'the watch to subscribe');
    // The headers follow the subscription's confirmation by one NATS round trip.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await own.shutdown();
    expect(await exit).toBe(1);
    // The collector answered (its headers came), so its reason is what the user reads.
    expect(captured.err).toBe(
      `rstscope watch: the collector at ${own.address} is unavailable: collector shutting down\n`,
    );
  });

  /** The real `rstscope watch` as a child process, its output collected as it comes. */
  async function spawnWatchCommand() {
    await until(() => feed.watchers === 0, 'the previous watch to end');
    const child = spawn(RSTSCOPE_BIN, ['watch', '--server', watchServer.address], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = { out: '', err: '' };
    child.stdout.on('data', (b: Buffer) => (output.out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output.err += b.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    return { child, output, exited };
  }

  it('the real command: Ctrl-C (SIGINT) ends it cleanly, exit 0', async () => {
    const { child, output, exited } = await spawnWatchCommand();
    try {
      await until(() => feed.watchers === 1, 'the command to subscribe');
      await publisher.flush();
      await new Promise((resolve) => setTimeout(resolve, 200));
      publish('web-4', [closedPortWireEvent({ local_port: 4444 })]);
      await until(() => output.out.includes('web-4'), 'the reset line');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(output.err).toBe('');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);

  it('the real command piped to a reader that leaves (| head -1): exit 0, no trace', async () => {
    const { child, output, exited } = await spawnWatchCommand();
    try {
      await until(() => feed.watchers === 1, 'the command to subscribe');
      await publisher.flush();
      await new Promise((resolve) => setTimeout(resolve, 200));
      publish('web-5', [closedPortWireEvent({ local_port: 5151 })]);
      await until(() => output.out.includes('web-5'), 'the first line');
      child.stdout.destroy();
      // Keep resets coming until a write finds the pipe closed.
      const more = setInterval(() => publish('web-5', [closedPortWireEvent()]), 50);
      try {
        expect(await exited).toBe(0);
      } finally {
        clearInterval(more);
      }
      expect(output.err).toBe('');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});

describe('formatting without a server', () => {
  it('a watch line and a skipped line', () => {
    const reset: Reset = {
      event_id: 'x/1',
      host: 'web-1',
      boot_id: 'b',
      event: closedPortWireEvent({
        ts_unix_ns: '1795255506943111441',
        direction: 'received',
        accepted: false,
        drop_reason: 'TCP_RESET',
        sock_cookie: '9',
        prev_state: 'ESTABLISHED',
        state: 'ESTABLISHED',
        local_addr: 'fd00:1::2',
        local_port: 50_000,
        remote_addr: 'fd00:9::9',
        remote_port: 443,
      }),
      local_end: unnamedEnd(),
      remote_end: unnamedEnd(),
    };
    expect(resetLine(reset)).toBe(
      '10:05:06.943111 web-1 received [fd00:1::2]:50000 <- [fd00:9::9]:443 ESTABLISHED RST discarded (TCP_RESET)',
    );
    // Ends the collector named carry their names next to their addresses.
    const named: Reset = {
      ...reset,
      local_end: { ...unnamedEnd(), kind: 'pod', namespace: 'shop', name: 'checkout-1' },
      remote_end: {
        kind: 'service',
        namespace: 'shop',
        name: 'payments',
        workload: '',
        services: ['shop/payments'],
      },
    };
    expect(resetLine(named)).toBe(
      '10:05:06.943111 web-1 received [fd00:1::2]:50000 (shop/checkout-1) <- [fd00:9::9]:443 (shop/payments) ESTABLISHED RST discarded (TCP_RESET)',
    );
    expect(skippedLine('1')).toBe('(1 reset skipped: reading too slowly)');
    expect(skippedLine('12')).toBe('(12 resets skipped: reading too slowly)');
  });

  it("the collector's line, and what it says when NATS did not answer", () => {
    const status = {
      storage: 'chdb /var/lib/rstscope/clickhouse',
      stream_pending: '12',
      ack_pending: '3',
      rows_inserted: '1234',
      dead_lettered: '0',
      unavailable: '',
      store_failing: '',
    };
    expect(collectorLine(status)).toBe(
      'collector: chdb /var/lib/rstscope/clickhouse; NATS pending 12, ack pending 3; 1234 rows inserted; 0 dead-lettered',
    );
    expect(collectorLine({ ...status, store_failing: 'disk_full since 07:27:20Z (…)' })).toBe(
      'collector: chdb /var/lib/rstscope/clickhouse; NATS pending 12, ack pending 3; 1234 rows inserted; 0 dead-lettered; STORE FAILING: disk_full since 07:27:20Z (…)',
    );
    expect(
      collectorLine({ ...status, stream_pending: '0', unavailable: 'NATS unreachable: no answer' }),
    ).toBe(
      'collector: chdb /var/lib/rstscope/clickhouse; its NATS figures are unknown: NATS unreachable: no answer',
    );
  });
});
