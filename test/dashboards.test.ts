// The Grafana dashboards (dashboards/*.json): rules every dashboard keeps, then
// every panel's SQL, rendered as Grafana and the ClickHouse plugin would render
// it, run against real ClickHouse (chDB) holding hand-made resets and heartbeats.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../agent/repo-root.js';
import {
  DEFAULT_DATABASE,
  DEFAULT_PASSWORD,
  DEFAULT_USER,
  openStorage,
} from '../collector/storage/open-storage.js';
import type { Row, Storage } from '../collector/storage/storage.js';
import {
  PLUGIN_MACROS,
  QUOTING_FORMATS,
  VARIABLE_REFERENCE,
  expandMacros,
  renderPanelSql,
  substituteVariables,
} from './grafana-macros.js';
import type { VariableValues } from './grafana-macros.js';

const PLUGIN = 'grafana-clickhouse-datasource';
const DASHBOARDS_DIR = join(repoRoot(), 'dashboards');

interface Target {
  refId: string;
  datasource?: { type?: string; uid?: string };
  rawSql: string;
  format: number;
  queryType: string;
  editorType: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets: Target[];
}
interface Variable {
  name: string;
  type: string;
  query: string;
  pluginId?: string;
  datasource?: { type?: string; uid?: string };
}
interface Dashboard {
  uid: string;
  title: string;
  templating: { list: Variable[] };
  panels: Panel[];
}

const files = (await readdir(DASHBOARDS_DIR)).filter((f) => f.endsWith('.json')).sort();
const texts = new Map<string, string>();
const dashboards = new Map<string, Dashboard>();
for (const file of files) {
  const text = await readFile(join(DASHBOARDS_DIR, file), 'utf8');
  texts.set(file, text);
  dashboards.set(file, JSON.parse(text) as Dashboard);
}
const each = [...dashboards.entries()];

/** Every SQL text of a dashboard: panel targets and query variables. */
function sqlOf(d: Dashboard): { where: string; sql: string }[] {
  return [
    ...d.panels.flatMap((p) => p.targets.map((t) => ({ where: p.title, sql: t.rawSql }))),
    ...d.templating.list
      .filter((v) => v.type === 'query')
      .map((v) => ({ where: `variable ${v.name}`, sql: v.query })),
  ];
}

/** Blanks out the insides of SQL string literals, keeping the quotes. */
function outsideStrings(sql: string): string {
  return sql.replace(/'(?:[^'\\]|\\.|'')*'/g, (s) => `'${' '.repeat(s.length - 2)}'`);
}

describe('dashboard rules', () => {
  it('ships the four dashboards', () => {
    expect(files).toEqual(['fleet.json', 'flow.json', 'middleboxes.json', 'overview.json']);
  });

  it.each(each)('%s: a datasource variable of the ClickHouse plugin', (_, d) => {
    const ds = d.templating.list.filter((v) => v.type === 'datasource');
    expect(ds).toEqual([expect.objectContaining({ name: 'datasource', query: PLUGIN })]);
  });

  it.each(each)('%s: every datasource is ${datasource}, no literal uid', (file, d) => {
    const refs = [
      ...d.panels.flatMap((p) => [p.datasource, ...p.targets.map((t) => t.datasource)]),
      ...d.templating.list.filter((v) => v.type === 'query').map((v) => v.datasource),
    ];
    for (const ref of refs) expect(ref).toEqual({ type: PLUGIN, uid: '${datasource}' });
    // Nowhere else either: every "uid" but the dashboard's own is the variable.
    const uids = [...texts.get(file)!.matchAll(/"uid":\s*"([^"]*)"/g)].map((m) => m[1]);
    expect(uids.filter((u) => u !== d.uid && u !== '${datasource}')).toEqual([]);
  });

  it.each(each)('%s: panels have titles, unique ids, SQL targets', (_, d) => {
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of d.panels) {
      expect(p.title.trim()).not.toBe('');
      expect(p.targets.length).toBeGreaterThan(0);
      for (const t of p.targets) {
        expect(t).toMatchObject({ editorType: 'sql' });
        const series = p.type === 'timeseries';
        // The plugin's query types, and the backend's format enum (0 time series, 1 table).
        expect([t.queryType, t.format]).toEqual(series ? ['timeSeries', 0] : ['table', 1]);
        expect(t.rawSql.trim()).not.toBe('');
      }
    }
  });

  it.each(each)('%s: every variable in SQL is defined; macros are the plugin’s', (_, d) => {
    const defined = new Set(d.templating.list.map((v) => v.name));
    for (const { where, sql } of sqlOf(d)) {
      for (const m of sql.matchAll(VARIABLE_REFERENCE)) {
        expect(defined, `${where}: ${m[0]}`).toContain(m[1] ?? m[3]);
      }
      for (const m of sql.matchAll(/\$__(\w+)/g)) expect(PLUGIN_MACROS, where).toContain(m[1]);
    }
  });

  it.each(each)('%s: variables in SQL are quoted', (_, d) => {
    for (const { where, sql } of sqlOf(d)) {
      const bare = outsideStrings(sql);
      for (const m of bare.matchAll(VARIABLE_REFERENCE)) {
        expect(QUOTING_FORMATS, `${where}: ${m[0]} is neither quoted nor formatted`).toContain(
          m[2],
        );
      }
    }
  });

  it.each(each)('%s: time-series panels filter by the time range', (_, d) => {
    for (const p of d.panels.filter((x) => x.type === 'timeseries')) {
      for (const t of p.targets) expect(t.rawSql, p.title).toMatch(/\$__timeFilter\(/);
    }
  });
});

describe('the expander', () => {
  const range = {
    from: new Date('2026-11-21T09:00:00Z'),
    to: new Date('2026-11-21T11:00:00Z'),
    intervalMs: 60_000,
  };
  it('expands the plugin macros for a time range', () => {
    expect(expandMacros('WHERE $__timeFilter(ts)', range)).toBe(
      'WHERE ts >= toDateTime(1795251600) AND ts <= toDateTime(1795258800)',
    );
    expect(expandMacros('$__timeInterval(ts)', range)).toBe(
      'toStartOfInterval(toDateTime(ts), INTERVAL 60 second)',
    );
    expect(expandMacros('$__fromTime, $__toTime_ms, $__interval_s', range)).toBe(
      'toDateTime(1795251600), fromUnixTimestamp64Milli(1795258800000), 60',
    );
  });
  it('substitutes variables with their formats', () => {
    const values = { host: ["a'b", 'c'], addr: ["x'y"] };
    expect(substituteVariables('IN (${host:singlequote})', values)).toBe("IN ('a\\'b','c')");
    expect(substituteVariables('${addr:sqlstring} $addr', values)).toBe("'x''y' x'y");
    expect(() => substituteVariables('$nope', values)).toThrow(/nope/);
  });
});

// ------------------------------------------------------------------ execution

let dir = '';
let storage: Storage;
let seq = 0;
const T0 = Date.parse('2026-11-21T10:00:00Z');
const ts = (ms: number) => new Date(T0 + ms).toISOString().replace('T', ' ').replace('Z', '');
const v4 = (a: string) => `::ffff:${a}`;

function reset(fields: Row): Row {
  seq++;
  return {
    boot_id: 'b',
    accepted: true,
    family: 'ipv4',
    netns: 1,
    prev_state: 'ESTABLISHED',
    pid_source: 'none',
    comm: '',
    reason: 'UNKNOWN',
    batch_id: `${String(fields.host)}/b/1/${seq}`,
    batch_index: 0,
    ...fields,
  };
}

function heartbeat(host: string, address: string, toMs: number, counters: Row = {}): Row {
  return {
    ts: ts(toMs),
    host,
    boot_id: 'b',
    run_id: 1,
    agent_version: '0.1.0',
    kernel_release: '6.12.0',
    addresses: [v4(address)],
    netns: [1],
    netns_names: [''],
    all_netns: false,
    covered_from: ts(-600_000),
    interval_s: 10,
    ...counters,
  };
}

/** The client's received reset on an established flow to srv. */
function received(o: {
  ms: number;
  port: number;
  clientPort: number;
  seq: number;
  ack: number;
  ttl: number;
  idleMs?: number;
}): Row {
  return reset({
    ts: ts(o.ms),
    host: 'cli',
    direction: 'received',
    state: 'ESTABLISHED',
    local_addr: v4('10.1.0.2'),
    local_port: o.clientPort,
    remote_addr: v4('10.2.0.2'),
    remote_port: o.port,
    sock_cookie: 5,
    isn_local: o.clientPort * 11,
    isn_remote: o.clientPort * 13,
    isn_exact: true,
    snd_nxt: o.ack,
    rcv_nxt: o.seq,
    last_recv_ms: o.idleMs ?? 20,
    last_sent_ms: 0,
    survived_idle_ms: 1000,
    rst_ttl: o.ttl,
    peer_ttl: 63,
    rst_seq: o.seq,
    rst_ack: o.ack,
  });
}

/** A small fleet's morning: a closed port, an application abort, two idle kills, a firewall reject. */
async function insertIncidents(): Promise<void> {
  await storage.insert('agents', [
    heartbeat('cli', '10.1.0.2', -60_000),
    heartbeat('cli', '10.1.0.2', 120_000, { seen: 6, published: 6, lost_kernel: 1 }),
    heartbeat('srv', '10.2.0.2', -60_000),
    heartbeat('srv', '10.2.0.2', 120_000, { seen: 2, published: 2, buffered: 1 }),
  ]);
  await storage.insert('resets', [
    // Closed port: srv answers a SYN, cli receives it in SYN_SENT.
    reset({
      ts: ts(1000),
      host: 'srv',
      direction: 'sent',
      reason: 'NO_SOCKET',
      state: 'CLOSE',
      local_addr: v4('10.2.0.2'),
      local_port: 7001,
      remote_addr: v4('10.1.0.2'),
      remote_port: 40001,
      trigger_flags: 'SYN',
      trigger_seq: 1000,
      trigger_ack: 0,
    }),
    reset({
      ts: ts(1001),
      host: 'cli',
      direction: 'received',
      state: 'SYN_SENT',
      local_addr: v4('10.1.0.2'),
      local_port: 40001,
      remote_addr: v4('10.2.0.2'),
      remote_port: 7001,
      sock_cookie: 5,
      isn_local: 1000,
      snd_una: 1000,
      snd_nxt: 1001,
      rst_ttl: 63,
      rst_seq: 0,
      rst_ack: 1001,
    }),
    // The server aborts with SO_LINGER 0.
    reset({
      ts: ts(20_000),
      host: 'srv',
      direction: 'sent',
      reason: 'TCP_STATE',
      state: 'CLOSE',
      local_addr: v4('10.2.0.2'),
      local_port: 7020,
      remote_addr: v4('10.1.0.2'),
      remote_port: 41020,
      sock_cookie: 77,
      linger_on: true,
      linger_s: 0,
      pid: 4242,
      comm: 'server',
      pid_source: 'context',
      isn_local: 41020 * 13,
      isn_remote: 41020 * 11,
      snd_nxt: 41020 * 17,
      rcv_nxt: 41020 * 19,
    }),
    received({
      ms: 20_001,
      port: 7020,
      clientPort: 41020,
      seq: 41020 * 17,
      ack: 41020 * 19,
      ttl: 63,
    }),
    // A router one hop from cli kills flows idle for 7 s and 9 s; srv sent nothing.
    received({
      ms: 11_000,
      port: 7010,
      clientPort: 41011,
      seq: 41011 * 23,
      ack: 0,
      ttl: 64,
      idleMs: 7000,
    }),
    received({
      ms: 12_000,
      port: 7010,
      clientPort: 41012,
      seq: 41012 * 23,
      ack: 0,
      ttl: 64,
      idleMs: 9000,
    }),
    // A firewall rejects a connection attempt to srv.
    reset({
      ts: ts(2000),
      host: 'cli',
      direction: 'received',
      state: 'SYN_SENT',
      local_addr: v4('10.1.0.2'),
      local_port: 47002,
      remote_addr: v4('10.2.0.2'),
      remote_port: 7002,
      sock_cookie: 5,
      isn_local: 49014,
      snd_una: 49014,
      snd_nxt: 49015,
      rst_ttl: 64,
      rst_seq: 0,
      rst_ack: 49015,
    }),
  ]);
}

const RANGE = {
  from: new Date(T0 - 3_600_000),
  to: new Date(T0 + 3_600_000),
  intervalMs: 60_000,
};

/** The variables' values a user would pick: every host; the flow dashboard's textboxes. */
const VALUES: Record<string, VariableValues> = {
  'overview.json': { host: ['cli', 'srv'] },
  'middleboxes.json': { host: ['cli', 'srv'] },
  'fleet.json': { host: ['cli', 'srv'] },
  'flow.json': { addr: ['10.2.0.2'], port: ['7010'] },
};

/** The columns each table panel shows, in order (time series: a time column first). */
const TABLE_COLUMNS: Record<string, string[]> = {
  'Top host pairs': ['receiver', 'sender', 'resets', 'injected', 'top_causes', 'last_seen'],
  'Top remote endpoints': [
    'host',
    'remote_endpoint',
    'resets',
    'injected',
    'top_causes',
    'last_seen',
  ],
  Middleboxes: [
    'source_host',
    'destination',
    'destination_hosts',
    'kind',
    'hop_distance',
    'rst_ttl',
    'peer_ttl',
    'ip_id_signature',
    'resets',
    'first_seen',
    'last_seen',
    'timeout_above_s',
    'timeout_at_most_s',
    'known_timeouts',
    'causes',
  ],
  'Idle kills': [
    'ts',
    'host',
    'flow',
    'idle_s',
    'survived_idle_s',
    'hop_distance',
    'rst_ttl',
    'peer_ttl',
    'detail',
  ],
  Agents: [
    'host',
    'kernel',
    'version',
    'last_heartbeat',
    'lag_s',
    'seen',
    'lost_kernel',
    'dropped_agent',
    'published',
    'buffered',
    'all_netns',
    'namespaces',
  ],
  'Resets of this endpoint, as each end recorded them': [
    'ts',
    'host',
    'direction',
    'origin',
    'cause',
    'detail',
    'local_endpoint',
    'remote_endpoint',
    'state',
    'reason',
    'match_rule',
    'sender_host',
    'hop_distance',
    'rst_ttl',
    'peer_ttl',
    'rst_ip_id',
    'seq_exact',
    'idle_ms',
    'survived_idle_ms',
    'event_id',
  ],
  'Both ends side by side': [
    'ts',
    'origin',
    'cause',
    'match_rule',
    'receiver_host',
    'receiver_endpoint',
    'receiver_sees',
    'receiver_state',
    'sender_host',
    'sender_endpoint',
    'sender_sees',
    'sender_reason',
    'sender_comm',
    'sender_pid',
    'hop_distance',
    'idle_ms',
  ],
  Coverage: ['host', 'address', 'boot_id', 'run_id', 'covered_from', 'covered_to'],
};

async function run(
  sql: string,
): Promise<{ columns: { name: string; type: string }[]; rows: Row[] }> {
  const answer = await storage.readOnlyQuery({ sql, params: {}, maxRows: 1000, timeoutMs: 20_000 });
  return { columns: answer.columns, rows: answer.rows.map((r) => JSON.parse(r) as Row) };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rstscope-dashboards-'));
  storage = await openStorage({
    dataDir: join(dir, 'data'),
    database: DEFAULT_DATABASE,
    user: DEFAULT_USER,
    password: DEFAULT_PASSWORD,
    retentionDays: 3650,
  });
  await storage.migrate();
  await insertIncidents();
});

afterAll(async () => {
  await storage?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('every panel runs against the views', () => {
  const panels = each.flatMap(([file, d]) => d.panels.map((p) => [file, p.title, p] as const));

  it.each(panels)('%s: %s', async (file, _, panel) => {
    for (const target of panel.targets) {
      const { columns, rows } = await run(renderPanelSql(target.rawSql, VALUES[file]!, RANGE));
      expect(rows.length).toBeGreaterThan(0);
      const names = columns.map((c) => c.name);
      if (panel.type === 'timeseries') {
        expect(names[0]).toBe('time');
        expect(columns[0]!.type).toMatch(/^DateTime/);
      } else if (panel.type === 'table') {
        expect(names).toEqual(TABLE_COLUMNS[panel.title]);
      } else {
        expect(rows).toHaveLength(1);
      }
    }
  });

  it('the data shows what happened', async () => {
    const sqlOfPanel = (file: string, title: string) =>
      renderPanelSql(
        dashboards.get(file)!.panels.find((p) => p.title === title)!.targets[0]!.rawSql,
        VALUES[file]!,
        RANGE,
      );
    const causes = await run(sqlOfPanel('overview.json', 'Resets by cause'));
    expect(new Set(causes.rows.map((r) => r.cause))).toEqual(
      new Set(['closed_port', 'app_abort_linger', 'idle_timeout', 'firewall_reject']),
    );
    const share = await run(sqlOfPanel('overview.json', 'Injected share'));
    expect(share.rows[0]!.injected_share).toBeCloseTo(3 / 7);
    const boxes = await run(sqlOfPanel('middleboxes.json', 'Middleboxes'));
    expect(boxes.rows.find((r) => r.kind === 'idle_kill')).toMatchObject({
      destination: '10.2.0.2:7010',
      hop_distance: 1,
      resets: '2',
      timeout_above_s: 1,
      timeout_at_most_s: 7,
    });
    const flow = await run(
      sqlOfPanel('flow.json', 'Resets of this endpoint, as each end recorded them'),
    );
    expect(flow.rows.map((r) => [r.local_endpoint, r.cause])).toEqual([
      ['10.1.0.2:41011', 'idle_timeout'],
      ['10.1.0.2:41012', 'idle_timeout'],
    ]);
    const agents = await run(sqlOfPanel('fleet.json', 'Agents'));
    expect(agents.rows.map((r) => [r.host, r.seen, r.lost_kernel, r.buffered])).toEqual([
      ['cli', '6', '1', '0'],
      ['srv', '2', '0', '1'],
    ]);
    // Query variables too.
    for (const v of dashboards
      .get('overview.json')!
      .templating.list.filter((x) => x.type === 'query')) {
      const answer = await run(expandMacros(v.query, RANGE));
      expect(answer.rows.map((r) => r.host)).toEqual(['cli', 'srv']);
    }
  });
});
