// The diagnosis RPCs (ListResets, TopCauses, ExplainFlow, Middleboxes, Fleet)
// end to end without a lab: embedded ClickHouse (chDB) with the real schema and
// views, hand-made rows in the shape the agent records them, the gRPC server on
// a free port and the CLI's QueryClient. Every filter field is shown to keep
// something and drop something.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryClient } from '../cli/query-client.js';
import { startQueryServer } from '../collector/query/index.js';
import type { QueryServer } from '../collector/query/index.js';
import type { Storage } from '../collector/storage/storage.js';
import type { ListResetsResponse, Reset, ResetFilter } from '../proto/index.js';
import { clientFailure } from './lab/client-failure.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import {
  abortPair,
  closedPortPair,
  heartbeatRow,
  idleKill,
  resetRow,
  rowTime,
  synSentReset,
  T0,
  v4,
} from './lab/reset-rows.js';

const ns = (ms: number) => String(BigInt(T0 + ms) * 1_000_000n);
// The rows lie in [T0, T0 + 1 min); the window holds them all.
const WINDOW = { from_unix_ns: ns(-60_000), to_unix_ns: ns(3_600_000) };
const BULK = 25;
/** DateTime64 text of `ms` before now. */
const recent = (ms: number) =>
  new Date(Date.now() - ms).toISOString().replace('T', ' ').replace('Z', '');

let dir = '';
let storage: Storage;
let server: QueryServer;
let client: QueryClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rstscope-query-api-'));
  // The rows are dated 2026-11-21: a long retention so TTL never drops them.
  storage = await openEmbeddedStorage(join(dir, 'data'), { retentionDays: 3650 });
  await storage.insert('agents', [
    heartbeatRow('cli', ['10.1.0.2'], 0, 60_000, {
      netns_names: ['client-ns'],
      seen: 40,
      kernel_release: '6.18.0',
    }),
    heartbeatRow('srv', ['10.2.0.2'], 0, 60_000, { netns: [2], netns_names: ['server-ns'] }),
  ]);
  await storage.insert('resets', [
    ...closedPortPair(),
    ...abortPair({ ms: 2000, port: 8080, clientPort: 41_000 }),
    // Behind SNAT: the server sees the client as 10.2.0.1:20001.
    ...abortPair({ ms: 6000, port: 8081, clientPort: 41_002, natPort: 20_001 }),
    idleKill({ ms: 3000, clientPort: 41_001, idleMs: 350_000 }),
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
    // Two minutes ago: inside the default window (the last hour).
    ...[120_000, 119_000].map((ago, i) =>
      resetRow({
        ts: recent(ago),
        host: 'now-host',
        direction: 'sent',
        reason: 'NO_SOCKET',
        state: 'CLOSE',
        local_addr: v4('10.9.0.2'),
        local_port: 22,
        remote_addr: v4('10.9.0.3'),
        remote_port: 40_000 + i,
        trigger_flags: 'SYN',
        trigger_seq: 1 + i,
      }),
    ),
    // Paging: a host that sent many resets, three of them at one instant.
    ...Array.from({ length: BULK }, (_, i) =>
      resetRow({
        ts: rowTime(10_000 + Math.min(i, BULK - 3) * 10),
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
  client = new QueryClient(server.address);
}, 60_000);

afterAll(async () => {
  client?.close();
  await server?.shutdown();
  await storage?.close();
  await rm(dir, { recursive: true, force: true });
});

function list(filter: Partial<ResetFilter>, more: { page_size?: number } = {}) {
  return client.listResets({ filter: { ...WINDOW, ...filter }, page_size: 1000, ...more });
}

const ids = (r: ListResetsResponse) => r.resets.map((x) => x.event_id);
const hostsOf = (resets: Reset[]) => [...new Set(resets.map((r) => r.host))].sort();
/** Each reset as host:direction:cause, sorted: what a filter kept. */
const kept = (r: ListResetsResponse) =>
  r.resets.map((x) => `${x.host}:${x.event.direction}:${x.diagnosis?.cause}`).sort();

const TOTAL = 2 + 2 + 2 + 1 + 1 + 1 + BULK;

describe('ListResets', () => {
  it('lists every reset in the window newest first, or oldest first, with event and diagnosis', async () => {
    const newest = await list({});
    expect(newest.resets).toHaveLength(TOTAL);
    expect(newest.next_page_token).toBe('');
    const times = newest.resets.map((r) => BigInt(r.event.ts_unix_ns));
    expect(times).toEqual([...times].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)));
    const oldest = await client.listResets({ filter: WINDOW, page_size: 1000, oldest_first: true });
    expect(ids(oldest)).toEqual([...ids(newest)].reverse());

    const abort = newest.resets.find((r) => r.host === 'cli' && r.event.remote_port === 8080)!;
    expect(abort.event).toMatchObject({
      ts_unix_ns: ns(2000),
      direction: 'received',
      local_addr: '10.1.0.2',
      remote_addr: '10.2.0.2',
      rst_ttl: 63,
      peer_ttl: 63,
    });
    expect(abort.event.trigger_flags).toBeUndefined();
    expect(abort.boot_id).toBe('b');
    expect(abort.diagnosis).toMatchObject({
      origin: 'peer',
      cause: 'app_abort_linger',
      match_rule: 'rst',
      peer_host: 'srv',
      peer_local_addr: '10.2.0.2',
      peer_local_port: 8080,
      sender_host: 'srv',
      sender_pid: 4242,
      sender_comm: 'server',
      hop_distance: 2,
      seq_exact: true,
    });
    expect(abort.diagnosis!.fix).toMatch(/SO_LINGER/);
    expect(abort.diagnosis!.peer_event_id).toMatch(/^srv\/b\/1\//);
  });

  it('defaults to the last hour: rows from hours ago are left out', async () => {
    expect(hostsOf((await client.listResets({})).resets)).toEqual(['now-host']);
  });

  it('window: from and to bound the resets, both ends included', async () => {
    const r = await client.listResets({
      filter: { from_unix_ns: ns(1001), to_unix_ns: ns(2000) },
    });
    expect(kept(r)).toEqual([
      'cli:received:app_abort_linger',
      'cli:received:closed_port',
      'srv:sent:app_abort_linger',
    ]);
  });

  it("host: only that host's records", async () => {
    const r = await list({ host: 'srv' });
    expect(hostsOf(r.resets)).toEqual(['srv']);
    expect(r.resets).toHaveLength(3);
  });

  it('netns: an inode, or a name resolved per host through its heartbeats', async () => {
    const byInode = await list({ netns: '7' });
    expect(kept(byInode)).toEqual(['cli:received:unclassified']);
    // client-ns is inode 1 on cli; srv's resets are in its inode 1 too, but
    // srv's agent never called that namespace client-ns.
    const byName = await list({ netns: 'client-ns' });
    expect(hostsOf(byName.resets)).toEqual(['cli']);
    expect(byName.resets).toHaveLength(5);
    expect(byName.resets.every((r) => r.event.netns === 1)).toBe(true);
    expect((await list({ netns: 'server-ns' })).resets).toEqual([]);
  });

  it('address: one address or a CIDR, at either end as either side saw it', async () => {
    expect(hostsOf((await list({ address: '10.6.0.0/16' })).resets)).toEqual(['bulk']);
    expect(kept(await list({ address: 'fd00:9::/32' }))).toEqual(['cli:received:unclassified']);
    // 10.2.0.1 is the client as the server saw it behind SNAT: the client's
    // own record matches through its peer's view of the flow.
    expect(kept(await list({ address: '10.2.0.1' }))).toEqual([
      'cli:received:app_abort_linger',
      'srv:sent:app_abort_linger',
    ]);
    const server = await list({ address: '10.2.0.2' });
    expect(server.resets).toHaveLength(8);
    expect(hostsOf(server.resets)).toEqual(['cli', 'srv']);
  });

  it('port: at either end as either side saw it', async () => {
    expect(kept(await list({ port: 8080 }))).toEqual([
      'cli:received:app_abort_linger',
      'srv:sent:app_abort_linger',
    ]);
    const nat = await list({ port: 20_001 });
    expect(nat.resets.map((r) => r.event.remote_port).sort((a, b) => a - b)).toEqual([
      8081, 20_001,
    ]);
    expect((await list({ port: 1 })).resets).toEqual([]);
  });

  it('direction, origin and cause', async () => {
    const sent = await list({ direction: 'sent' });
    expect(sent.resets).toHaveLength(BULK + 3);
    expect(sent.resets.every((r) => r.event.direction === 'sent')).toBe(true);
    expect(kept(await list({ origin: 'injected' }))).toEqual([
      'cli:received:firewall_reject',
      'cli:received:idle_timeout',
    ]);
    expect(kept(await list({ cause: 'idle_timeout' }))).toEqual(['cli:received:idle_timeout']);
    expect(kept(await list({ cause: 'closed_port', host: 'cli' }))).toEqual([
      'cli:received:closed_port',
    ]);
  });

  it('pages: every reset once, in order, across pages, both orders', async () => {
    for (const oldest_first of [false, true]) {
      const whole = await client.listResets({ filter: WINDOW, page_size: 1000, oldest_first });
      const seen: string[] = [];
      let token = '';
      let pages = 0;
      do {
        const page = await client.listResets({
          filter: WINDOW,
          page_size: 7,
          page_token: token,
          oldest_first,
        });
        expect(page.resets.length).toBeLessThanOrEqual(7);
        seen.push(...ids(page));
        token = page.next_page_token;
        pages++;
      } while (token);
      expect(pages).toBe(Math.ceil(TOTAL / 7));
      expect(seen).toEqual(ids(whole));
      expect(new Set(seen).size).toBe(TOTAL);
    }
  });

  it('pages of the default window: the token keeps the window of the first page', async () => {
    const filter = { host: 'now-host' };
    const first = await client.listResets({ filter, page_size: 1 });
    expect(first.resets).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await client.listResets({
      filter,
      page_size: 1,
      page_token: first.next_page_token,
    });
    expect(second.resets).toHaveLength(1);
    expect(second.next_page_token).toBe('');
    expect(ids(second)).not.toEqual(ids(first));
  });

  it('refuses a bad token, a token of another filter, and an oversized page', async () => {
    const bad = await clientFailure(client.listResets({ filter: WINDOW, page_token: 'nonsense' }));
    expect(bad.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(bad.message).toMatch(/page_token is not a token ListResets gave/);
    const first = await client.listResets({ filter: WINDOW, page_size: 5 });
    expect(first.next_page_token).not.toBe('');
    const other = await clientFailure(
      client.listResets({
        filter: { ...WINDOW, host: 'bulk' },
        page_size: 5,
        page_token: first.next_page_token,
      }),
    );
    expect(other.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(other.message).toMatch(/another filter or order/);
    const reversed = await clientFailure(
      client.listResets({
        filter: WINDOW,
        page_token: first.next_page_token,
        oldest_first: true,
      }),
    );
    expect(reversed.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    const huge = await clientFailure(client.listResets({ filter: WINDOW, page_size: 10_001 }));
    expect(huge.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(huge.message).toMatch(/page_size 10001: at most 10000/);
  });

  it('refuses a bad filter with the field and the form it takes', async () => {
    const cases: [Partial<ResetFilter>, RegExp][] = [
      [{ port: 70_000 }, /port 70000: expected 1 to 65535/],
      [{ direction: 'up' }, /direction up: expected one of sent, received/],
      [{ origin: 'mars' }, /origin mars: expected one of local/],
      [{ cause: 'gremlins' }, /cause gremlins: expected one of/],
      [{ address: '10.0.0.0/33' }, /address 10.0.0.0\/33: expected an address or a CIDR/],
      // An empty prefix length is not /0 (every address).
      [{ address: '10.0.0.0/' }, /address 10.0.0.0\/: expected an address or a CIDR/],
      [{ address: 'fd00::/+64' }, /address fd00::\/\+64: expected an address or a CIDR/],
      [{ from_unix_ns: ns(10), to_unix_ns: ns(0) }, /from_unix_ns is after to_unix_ns/],
    ];
    for (const [filter, message] of cases) {
      const err = await clientFailure(client.listResets({ filter: { ...WINDOW, ...filter } }));
      expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(err.message).toMatch(message);
      expect(err.message).not.toMatch(/\n|at .*\.ts:/);
    }
  });
});

describe('TopCauses', () => {
  it('groups by cause and origin by default, largest first, with the total', async () => {
    const r = await client.topCauses({ filter: WINDOW });
    expect(r.total_resets).toBe(String(TOTAL));
    expect(r.rows[0]).toMatchObject({
      cause: 'closed_port',
      origin: 'local',
      host: '',
      service: '',
      port: 0,
      resets: String(BULK + 1),
      hosts: '2',
    });
    const injected = r.rows.find((row) => row.cause === 'idle_timeout')!;
    expect(injected).toMatchObject({
      origin: 'injected',
      resets: '1',
      first_unix_ns: ns(3000),
      last_unix_ns: ns(3000),
      example: 'after 350.0 s idle',
    });
    const counts = r.rows.map((row) => Number(row.resets));
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    expect(counts.reduce((a, b) => a + b)).toBe(TOTAL);
  });

  it('groups by host; the limit cuts rows, not the total', async () => {
    const r = await client.topCauses({
      filter: WINDOW,
      group_by: ['TOP_CAUSES_GROUP_HOST'],
      limit: 2,
    });
    expect(r.rows.map((row) => [row.host, row.resets, row.cause])).toEqual([
      ['bulk', String(BULK), ''],
      ['cli', '6', ''],
    ]);
    expect(r.total_resets).toBe(String(TOTAL));
  });

  it('groups by service (the end whose port is not ephemeral) and port', async () => {
    const r = await client.topCauses({
      filter: WINDOW,
      group_by: ['TOP_CAUSES_GROUP_SERVICE', 'TOP_CAUSES_GROUP_PORT'],
      limit: 100,
    });
    const services = Object.fromEntries(r.rows.map((row) => [row.service, [row.port, row.resets]]));
    expect(services).toEqual({
      '10.5.0.2:9999': [9999, String(BULK)],
      '10.2.0.2:7001': [7001, '2'],
      '10.2.0.2:8080': [8080, '2'],
      // Neither 20001 nor 8081 is ephemeral: the lower port is the service.
      '10.2.0.2:8081': [8081, '2'],
      '10.2.0.2:7010': [7010, '1'],
      '10.2.0.2:9300': [9300, '1'],
      '[fd00:9::9]:443': [443, '1'],
    });
  });

  it('applies the filter, and refuses a limit above 1000', async () => {
    const r = await client.topCauses({ filter: { ...WINDOW, origin: 'injected' } });
    expect(r.rows.map((row) => row.cause).sort()).toEqual(['firewall_reject', 'idle_timeout']);
    expect(r.total_resets).toBe('2');
    const empty = await client.topCauses({ filter: { ...WINDOW, host: 'nobody' } });
    expect(empty).toEqual({ rows: [], total_resets: '0' });
    const err = await clientFailure(client.topCauses({ filter: WINDOW, limit: 1001 }));
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    const bad = await clientFailure(client.topCauses({ filter: { ...WINDOW, port: 99_999 } }));
    expect(bad.code).toBe(GrpcStatus.INVALID_ARGUMENT);
  });
});

describe('ExplainFlow', () => {
  it('tells one flow: the received reset and its sender in one story', async () => {
    const r = await client.explainFlow({
      endpoints: ['10.1.0.2:41000', '10.2.0.2:8080'],
      ...WINDOW,
    });
    expect(r.truncated).toBe(false);
    expect(r.stories).toHaveLength(1);
    const [story] = r.stories;
    expect(story!.resets.map((x) => `${x.host}:${x.event.direction}`)).toEqual([
      'cli:received',
      'srv:sent',
    ]);
    expect(story!.lines[0]).toMatch(
      /^10\.1\.0\.2:41000 \(cli\) received a reset from 10\.2\.0\.2:8080/,
    );
    expect(story!.lines).toContain(
      '10.2.0.2:8080 (srv) sent it (TCP_STATE); the RST sequence numbers match.',
    );
    expect(story!.lines.at(-1)).toMatch(/^Fix: /);
  });

  it('finds a flow by either end as the other side saw it (SNAT)', async () => {
    const r = await client.explainFlow({ endpoints: ['10.2.0.1:20001'], ...WINDOW });
    expect(r.stories).toHaveLength(1);
    expect(r.stories[0]!.lines.join('\n')).toMatch(/address translation in between/);
  });

  it('reads the path TTL from other connections for a refused connect', async () => {
    const r = await client.explainFlow({ endpoints: ['10.2.0.2:9300'], ...WINDOW });
    expect(r.stories).toHaveLength(1);
    expect(r.stories[0]!.lines.join('\n')).toMatch(
      /RST TTL 64, srv's segments arrive with 63 on its other connections: injected 1 hop from cli/,
    );
  });

  it('one endpoint: every flow; the limit truncates', async () => {
    const all = await client.explainFlow({ endpoints: ['10.2.0.2'], ...WINDOW });
    expect(all.stories.length).toBe(5);
    const cut = await client.explainFlow({ endpoints: ['10.2.0.2'], limit: 1, ...WINDOW });
    expect(cut.truncated).toBe(true);
    expect(cut.stories).toHaveLength(1);
  });

  it('NOT_FOUND names the flow and the window; bad endpoints are INVALID_ARGUMENT', async () => {
    const none = await clientFailure(client.explainFlow({ endpoints: ['10.7.7.7:1'], ...WINDOW }));
    expect(none.code).toBe(GrpcStatus.NOT_FOUND);
    expect(none.message).toMatch(
      /no reset of 10\.7\.7\.7:1 between 2026-11-21T09:59:00\.000Z and 2026-11-21T11:00:00\.000Z; widen the window/,
    );
    const bad = await clientFailure(client.explainFlow({ endpoints: ['nowhere:80'], ...WINDOW }));
    expect(bad.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(bad.message).toMatch(/endpoint nowhere:80: expected ADDRESS\[:PORT\]/);
    const three = await clientFailure(
      client.explainFlow({ endpoints: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] }),
    );
    expect(three.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(three.message).toMatch(/expected one or two/);
    const zero = await clientFailure(client.explainFlow({}));
    expect(zero.code).toBe(GrpcStatus.INVALID_ARGUMENT);
  });
});

describe('Middleboxes', () => {
  it('lists the injected resets by path, narrowed by port, host and address', async () => {
    const r = await client.middleboxes({ filter: WINDOW });
    expect(
      r.middleboxes.map((m) => [m.kind, m.destination_addr, m.destination_port]).sort(),
    ).toEqual([
      ['idle_kill', '10.2.0.2', 7010],
      ['reject_on_connect', '10.2.0.2', 9300],
    ]);
    const reject = r.middleboxes.find((m) => m.kind === 'reject_on_connect')!;
    expect(reject).toMatchObject({
      source_host: 'cli',
      destination_hosts: ['srv'],
      hop_distance: 1,
      rst_ttl: 64,
      resets: '1',
      causes: ['firewall_reject'],
      first_unix_ns: ns(4000),
    });
    expect(reject.example_flows).toEqual(['10.1.0.2:49300 <- 10.2.0.2:9300']);
    const idle = r.middleboxes.find((m) => m.kind === 'idle_kill')!;
    expect(idle.timeout_at_most_ms).toBe(350_000);
    expect(idle.known_timeouts.length).toBeGreaterThan(0);

    const port = await client.middleboxes({ filter: { ...WINDOW, port: 9300 } });
    expect(port.middleboxes.map((m) => m.kind)).toEqual(['reject_on_connect']);
    expect((await client.middleboxes({ filter: { ...WINDOW, host: 'srv' } })).middleboxes).toEqual(
      [],
    );
    expect(
      (await client.middleboxes({ filter: { ...WINDOW, address: '10.1.0.0/24' } })).middleboxes,
    ).toHaveLength(2);
    expect(
      (await client.middleboxes({ filter: { ...WINDOW, address: '10.9.0.0/16' } })).middleboxes,
    ).toEqual([]);
    const early = { from_unix_ns: ns(0), to_unix_ns: ns(3500) };
    expect((await client.middleboxes({ filter: early })).middleboxes.map((m) => m.kind)).toEqual([
      'idle_kill',
    ]);
    expect((await client.middleboxes({ filter: WINDOW, limit: 1 })).middleboxes).toHaveLength(1);
    const err = await clientFailure(client.middleboxes({ filter: WINDOW, limit: 5000 }));
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
  });

  it('narrows by netns and direction; origin and cause are ignored', async () => {
    const kinds = async (filter: Partial<ResetFilter>) =>
      (await client.middleboxes({ filter: { ...WINDOW, ...filter } })).middleboxes
        .map((m) => m.kind)
        .sort();
    const both = ['idle_kill', 'reject_on_connect'];
    // Both injected resets reached the client in its first namespace (client-ns).
    expect(await kinds({ netns: 'client-ns' })).toEqual(both);
    expect(await kinds({ netns: '1' })).toEqual(both);
    expect(await kinds({ netns: '7' })).toEqual([]);
    expect(await kinds({ netns: 'server-ns' })).toEqual([]);
    // An injected reset is one this host received, never one it sent.
    expect(await kinds({ direction: 'received' })).toEqual(both);
    expect(await kinds({ direction: 'sent' })).toEqual([]);
    expect(await kinds({ origin: 'local', cause: 'closed_port' })).toEqual(both);
  });
});

describe('Fleet', () => {
  it('one agent per run, its latest heartbeat, stale or live, with stored and missing', async () => {
    // Reporting now: live.
    await storage.insert('agents', [
      { ...heartbeatRow('now-host', ['10.9.0.2'], 0, 0), ts: recent(0) },
    ]);
    const r = await client.fleet();
    expect(r.agents.map((a) => [a.host, a.status])).toEqual([
      ['cli', 'stale'],
      ['now-host', 'live'],
      ['srv', 'stale'],
    ]);
    const cli = r.agents[0]!;
    expect(cli).toMatchObject({
      boot_id: 'b',
      run_id: '1',
      kernel_release: '6.18.0',
      addresses: ['10.1.0.2'],
      netns: [{ inode: 1, name: 'client-ns' }],
      interval_s: 10,
      covered_from_unix_ns: ns(0),
      last_heartbeat_unix_ns: ns(60_000),
      stored: '6',
      missing: '34',
    });
    expect(cli.counters.seen).toBe('40');
    expect(cli.delivery_lag_ms).toBeGreaterThan(0);
    expect(r.collector.storage).toMatch(/^chdb /);

    const lenient = await client.fleet({ stale_after_s: 7 * 86_400 });
    expect(lenient.agents.every((a) => a.status === 'live')).toBe(true);
    const one = await client.fleet({ host: 'srv' });
    expect(one.agents.map((a) => [a.host, a.stored, a.missing])).toEqual([['srv', '3', '-3']]);
    expect((await client.fleet({ host: 'nobody' })).agents).toEqual([]);
  });

  it("reports the collector's own status when it has one", async () => {
    const status = {
      storage: 'chdb test',
      stream_pending: '3',
      ack_pending: '1',
      rows_inserted: '99',
      dead_lettered: '0',
      unavailable: '',
      store_failing: '',
    };
    const other = await startQueryServer({
      listen: '127.0.0.1:0',
      storage,
      log: pino({ level: 'silent' }),
      collectorStatus: () => Promise.resolve(status),
    });
    const otherClient = new QueryClient(other.address);
    try {
      expect((await otherClient.fleet()).collector).toEqual(status);
    } finally {
      otherClient.close();
      await other.shutdown();
    }
  });

  it('still lists the agents when the collector cannot read its own status, and says why', async () => {
    const other = await startQueryServer({
      listen: '127.0.0.1:0',
      storage,
      log: pino({ level: 'silent' }),
      collectorStatus: () => Promise.reject(new Error('NATS unreachable: no consumer info')),
    });
    const otherClient = new QueryClient(other.address);
    try {
      const answer = await otherClient.fleet({ stale_after_s: 7 * 86_400 });
      expect(answer.agents.length).toBeGreaterThan(0);
      expect(answer.collector).toMatchObject({
        storage: expect.stringMatching(/^chdb /) as unknown,
        stream_pending: '0',
        unavailable: 'NATS unreachable: no consumer info',
      });
    } finally {
      otherClient.close();
      await other.shutdown();
    }
  });
});

describe('storage failures', () => {
  it('answer as Sql does: a query over the time limit is DEADLINE_EXCEEDED with the limit', async () => {
    // One millisecond: every query over the diagnosis views runs longer.
    const strict = await startQueryServer({
      listen: '127.0.0.1:0',
      storage,
      log: pino({ level: 'silent' }),
      limits: { maxTimeoutMs: 1 },
    });
    const strictClient = new QueryClient(strict.address);
    try {
      const viaSql = await clientFailure(strictClient.sql({ sql: 'SELECT * FROM reset_causes' }));
      const viaList = await clientFailure(strictClient.listResets({ filter: WINDOW }));
      const viaTop = await clientFailure(strictClient.topCauses({ filter: WINDOW }));
      for (const err of [viaSql, viaList, viaTop]) {
        expect(err.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
        expect(err.message).toMatch(/^query timed out after 1ms/);
      }
    } finally {
      strictClient.close();
      await strict.shutdown();
    }
  });
});
