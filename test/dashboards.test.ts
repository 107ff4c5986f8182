// The Grafana dashboards (dashboards/*.json): rules every dashboard keeps, then
// every panel's SQL, rendered as Grafana and the ClickHouse plugin would render
// it, run against real ClickHouse (chDB) holding hand-made resets and heartbeats.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { expectPanelShape, loadDashboards } from './dashboard-panels.js';
import type { Dashboard } from './dashboard-panels.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import {
  abortPair,
  closedPortPair,
  clusterIpAbortPair,
  endpointInjected,
  heartbeatRow,
  idleKill,
  ledgerWatch,
  synSentReset,
  T0,
} from './lab/reset-rows.js';

const PLUGIN = 'grafana-clickhouse-datasource';

const { files, texts, dashboards } = await loadDashboards();
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
/** A small fleet's morning: a closed port, an application abort, two idle kills, a firewall reject. */
async function insertIncidents(): Promise<void> {
  await storage.insert('agents', [
    heartbeatRow('cli', ['10.1.0.2'], -600_000, -60_000, VERSIONS),
    heartbeatRow('cli', ['10.1.0.2'], -600_000, 120_000, {
      ...VERSIONS,
      seen: 6,
      published: 6,
      lost_kernel: 1,
    }),
    heartbeatRow('srv', ['10.2.0.2'], -600_000, -60_000, VERSIONS),
    heartbeatRow('srv', ['10.2.0.2'], -600_000, 120_000, {
      ...VERSIONS,
      seen: 2,
      published: 2,
      buffered: 1,
    }),
  ]);
  await storage.insert('resets', [
    ...closedPortPair(),
    // The server aborts with SO_LINGER 0.
    ...abortPair({ ms: 20_000, port: 7020, clientPort: 41020 }),
    // A router one hop from cli kills flows idle for 7 s and 9 s; srv sent nothing.
    idleKill({ ms: 11_000, clientPort: 41011, idleMs: 7000 }),
    idleKill({ ms: 12_000, clientPort: 41012, idleMs: 9000 }),
    // A firewall rejects a connection attempt to srv.
    synSentReset({ ms: 2000, port: 7002, ttl: 64, remote: '10.2.0.2' }),
  ]);
}

/** Kubernetes: payments-0 aborts checkout's flow to shop/payments; invoicer's flow to ledger-0 is killed idle. */
async function insertNamedIncidents(): Promise<void> {
  await storage.insert('agents', [ledgerWatch()]);
  await storage.insert('resets', [
    ...clusterIpAbortPair({ ms: 30_000, clientPort: 45_000 }),
    endpointInjected({ ms: 31_000, clientPort: 46_000 }),
  ]);
}

/** The named incidents' hosts: in the host variable's values with cli and srv. */
const NAMED_HOSTS = ['node-a', 'node-b', 'node-c', 'node-d'];

const VERSIONS = { agent_version: '0.1.0', kernel_release: '6.12.0' };

const RANGE = {
  from: new Date(T0 - 3_600_000),
  to: new Date(T0 + 3_600_000),
  intervalMs: 60_000,
};

/** The variables' values a user would pick: every host; the flow dashboard's textboxes. */
const VALUES: Record<string, VariableValues> = {
  'overview.json': { host: ['cli', 'srv', ...NAMED_HOSTS] },
  'middleboxes.json': { host: ['cli', 'srv', ...NAMED_HOSTS] },
  'fleet.json': { host: ['cli', 'srv'] },
  'flow.json': { addr: ['10.2.0.2'], port: ['7010'] },
};

async function run(
  sql: string,
): Promise<{ columns: { name: string; type: string }[]; rows: Row[] }> {
  const answer = await storage.readOnlyQuery({ sql, params: {}, maxRows: 1000, timeoutMs: 20_000 });
  return { columns: answer.columns, rows: answer.rows.map((r) => JSON.parse(r) as Row) };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rstscope-dashboards-'));
  storage = await openEmbeddedStorage(join(dir, 'data'), { retentionDays: 3650 });
  await insertIncidents();
  await insertNamedIncidents();
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
      expectPanelShape(panel, columns, rows.length);
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
    // Injected: two idle kills and a firewall reject, and invoicer's idle kill.
    const share = await run(sqlOfPanel('overview.json', 'Injected share'));
    expect(share.rows[0]!.injected_share).toBeCloseTo(4 / 10);
    // One row per reset: checkout's received reset and payments-0's sent one are one flow row.
    const pairs = await run(sqlOfPanel('overview.json', 'Resets by service pair'));
    expect(pairs.rows.map((r) => [r.client, r.server, r.resets, r.injected])).toEqual(
      expect.arrayContaining([
        ['shop/Deployment/checkout', 'shop/payments', '1', '0'],
        ['billing/Deployment/invoicer', 'billing/ledger', '1', '1'],
        ['10.1.0.2', '10.2.0.2:7010', '2', '2'],
      ]),
    );
    const byNamespace = await run(sqlOfPanel('middleboxes.json', 'Injected resets by namespace'));
    expect(new Set(byNamespace.rows.map((r) => r.namespace))).toEqual(
      new Set(['billing', '(not in Kubernetes)']),
    );
    const boxes = await run(sqlOfPanel('middleboxes.json', 'Middleboxes'));
    expect(boxes.rows.find((r) => r.source_host === 'node-c')).toMatchObject({
      source_names: 'billing/invoicer-5c6b7-xyz12',
      destination_name: 'billing/ledger-0',
    });
    expect(boxes.rows.find((r) => r.kind === 'idle_kill' && r.source_host === 'cli')).toMatchObject(
      {
        destination: '10.2.0.2:7010',
        hop_distance: 1,
        resets: '2',
        timeout_above_s: 1,
        timeout_at_most_s: 7,
      },
    );
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
      expect(answer.rows.map((r) => r.host)).toEqual(['cli', 'node-d', 'srv']);
    }
  });
});
