// The query API on real lab data: a firewall reject at the router, an
// application abort behind SNAT and a connect to a closed port, recorded by
// agents in network namespaces and stored by the collector through NATS
// (test/lab/query-lab.ts). The store is then opened in this process and served
// by the gRPC server on a free port: every RPC must answer with what the lab
// did. Every dashboard panel's SQL runs on the same store too.
// Needs root (namespaces, BPF): without it the suite reports itself skipped.
import { release } from 'node:os';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryClient } from '../cli/query-client.js';
import { startQueryServer } from '../collector/query/index.js';
import type { QueryServer } from '../collector/query/index.js';
import type { Row, Storage } from '../collector/storage/storage.js';
import { expectPanelShape, loadDashboards } from './dashboard-panels.js';
import { renderPanelSql } from './grafana-macros.js';
import type { VariableValues } from './grafana-macros.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import { fillLabStore, LAB_AGENTS, QUERY_LAB_PORTS } from './lab/query-lab.js';
import type { LabStore } from './lab/query-lab.js';

const notRoot = process.getuid?.() !== 0;
const title = notRoot
  ? 'query API on lab data (skipped: needs root for network namespaces and BPF)'
  : 'query API on lab data';

let store: LabStore;
let storage: Storage;
let server: QueryServer;
let client: QueryClient;

const nsOf = (d: Date) => String(BigInt(d.getTime()) * 1_000_000n);

describe.skipIf(notRoot)(title, () => {
  let window: { from_unix_ns: string; to_unix_ns: string };

  beforeAll(async () => {
    store = await fillLabStore();
    window = { from_unix_ns: nsOf(store.from), to_unix_ns: nsOf(store.to) };
    storage = await openEmbeddedStorage(store.dataDir, { migrate: false });
    server = await startQueryServer({
      listen: '127.0.0.1:0',
      storage,
      log: pino({ level: 'silent' }),
    });
    client = new QueryClient(server.address);
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await server?.shutdown();
    await storage?.close();
    await store?.dispose();
  });

  it('Fleet: each agent, its kernel, live, every reset it counted stored', async () => {
    // The agents stopped just before the store was opened: their last
    // heartbeats are seconds old, live by a two-minute measure, stale by one second.
    const fleet = await client.fleet({ stale_after_s: 120 });
    expect(fleet.agents.map((a) => a.host)).toEqual([LAB_AGENTS.client, LAB_AGENTS.server]);
    for (const agent of fleet.agents) {
      const lab = store.agents.find((a) => a.name === agent.host)!;
      expect(agent.status).toBe('live');
      expect(agent.kernel_release).toBe(release());
      expect(agent.counters.published).toBe(String(lab.published));
      expect(agent.counters.seen).toBe(agent.stored);
      expect(agent.missing).toBe('0');
      expect(Number(agent.stored)).toBeGreaterThan(0);
      expect(agent.delivery_lag_ms).toBeGreaterThanOrEqual(0);
    }
    const client0 = fleet.agents[0]!;
    expect(client0.addresses).toContain(store.hosts.client.ipv4);
    expect(client0.netns.map((n) => n.name)).toEqual([store.hosts.client.ns]);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const strict = await client.fleet({ stale_after_s: 1 });
    expect(strict.agents.map((a) => a.status)).toEqual(['stale', 'stale']);
  });

  it("ListResets: the router's reset is the one injected, as the client received it", async () => {
    const injected = await client.listResets({ filter: { ...window, origin: 'injected' } });
    expect(injected.resets).toHaveLength(1);
    const [reset] = injected.resets;
    const { client: c } = store.reject;
    expect(reset).toMatchObject({
      host: LAB_AGENTS.client,
      event: {
        direction: 'received',
        state: 'SYN_SENT',
        local_addr: c.localAddr,
        local_port: c.localPort,
        remote_addr: c.remoteAddr,
        remote_port: c.remotePort,
        rst_ttl: store.reject.rstTtl,
      },
      diagnosis: {
        origin: 'injected',
        cause: 'firewall_reject',
        hop_distance: 1,
        peer_watchers: [LAB_AGENTS.server],
        sender_host: '',
      },
    });
    // Every stored reset, one page at a time, and the netns filter by name.
    const all = await client.listResets({ filter: window, page_size: 2 });
    expect(all.next_page_token).not.toBe('');
    const inClientNs = await client.listResets({
      filter: { ...window, netns: store.hosts.client.ns },
    });
    expect(new Set(inClientNs.resets.map((r) => r.host))).toEqual(new Set([LAB_AGENTS.client]));
    expect(inClientNs.resets.length).toBe(3);
  });

  it('TopCauses: firewall_reject, the SNAT abort and the closed port, by cause and origin', async () => {
    const top = await client.topCauses({ filter: window, limit: 100 });
    const groups = top.rows.map((r) => `${r.cause}/${r.origin}=${r.resets}`).sort();
    expect(groups).toEqual([
      'app_abort_linger/local=1',
      'app_abort_linger/peer=1',
      'closed_port/local=1',
      'closed_port/peer=1',
      'firewall_reject/injected=1',
    ]);
    expect(top.total_resets).toBe('5');
    const services = await client.topCauses({
      filter: window,
      group_by: ['TOP_CAUSES_GROUP_SERVICE'],
    });
    const server = store.hosts.server.ipv4;
    expect(Object.fromEntries(services.rows.map((r) => [r.service, r.resets]))).toEqual({
      [`${server}:${QUERY_LAB_PORTS.reject}`]: '1',
      [`${server}:${QUERY_LAB_PORTS.snat}`]: '2',
      [`${server}:${QUERY_LAB_PORTS.closedPort}`]: '2',
    });
  });

  it('ExplainFlow: the SNAT abort, both ends, the translation named', async () => {
    const { client: c, server: s } = store.snat;
    const explained = await client.explainFlow({
      endpoints: [`${c.localAddr}:${c.localPort}`, `${c.remoteAddr}:${c.remotePort}`],
      ...window,
    });
    expect(explained.stories).toHaveLength(1);
    const [story] = explained.stories;
    expect(story!.resets.map((r) => `${r.host} ${r.event.direction}`)).toEqual([
      `${LAB_AGENTS.client} received`,
      `${LAB_AGENTS.server} sent`,
    ]);
    const text = story!.lines.join('\n');
    expect(text).toContain(
      `It saw the other end as ${s.remoteAddr}:${s.remotePort}: address translation in between.`,
    );
    expect(text).toMatch(/Cause: app_abort_linger/);
    // The same flow by the client's end as the server saw it.
    const bySnat = await client.explainFlow({
      endpoints: [`${s.remoteAddr}:${s.remotePort}`],
      ...window,
    });
    expect(bySnat.stories.map((x) => x.lines)).toEqual(explained.stories.map((x) => x.lines));
  });

  it("Middleboxes: the router's path, one hop from the client, rejecting connects", async () => {
    const boxes = await client.middleboxes({ filter: window });
    expect(boxes.middleboxes).toHaveLength(1);
    expect(boxes.middleboxes[0]).toMatchObject({
      source_host: LAB_AGENTS.client,
      destination_addr: store.hosts.server.ipv4,
      destination_port: QUERY_LAB_PORTS.reject,
      destination_hosts: [LAB_AGENTS.server],
      kind: 'reject_on_connect',
      hop_distance: 1,
      rst_ttl: store.reject.rstTtl,
      resets: '1',
      causes: ['firewall_reject'],
    });
  });

  describe('every dashboard panel on the lab data', async () => {
    const { dashboards } = await loadDashboards();
    const values = (file: string): VariableValues =>
      file === 'flow.json'
        ? { addr: [store.hosts.server.ipv4], port: [String(QUERY_LAB_PORTS.snat)] }
        : { host: [LAB_AGENTS.client, LAB_AGENTS.server] };
    const panels = [...dashboards.entries()].flatMap(([file, d]) =>
      d.panels.map((p) => [file, p.title, p] as const),
    );

    it.each(panels)('%s: %s', async (file, _, panel) => {
      for (const target of panel.targets) {
        const sql = renderPanelSql(target.rawSql, values(file), {
          from: store.from,
          to: store.to,
          intervalMs: 10_000,
        });
        const answer = await storage.readOnlyQuery({
          sql,
          params: {},
          maxRows: 1000,
          timeoutMs: 30_000,
        });
        expectPanelShape(panel, answer.columns, answer.rows.length);
      }
    });

    it('the panels show the lab', async () => {
      const run = async (file: string, panelTitle: string): Promise<Row[]> => {
        const panel = dashboards.get(file)!.panels.find((p) => p.title === panelTitle)!;
        const sql = renderPanelSql(panel.targets[0]!.rawSql, values(file), {
          from: store.from,
          to: store.to,
          intervalMs: 10_000,
        });
        const answer = await storage.readOnlyQuery({
          sql,
          params: {},
          maxRows: 1000,
          timeoutMs: 30_000,
        });
        return answer.rows.map((r) => JSON.parse(r) as Row);
      };
      const causes = await run('overview.json', 'Resets by cause');
      expect(new Set(causes.map((r) => r.cause))).toEqual(
        new Set(['closed_port', 'app_abort_linger', 'firewall_reject']),
      );
      const boxes = await run('middleboxes.json', 'Middleboxes');
      expect(boxes.map((r) => [r.destination, r.kind])).toEqual([
        [`${store.hosts.server.ipv4}:${QUERY_LAB_PORTS.reject}`, 'reject_on_connect'],
      ]);
      const agents = await run('fleet.json', 'Agents');
      expect(agents.map((r) => r.host)).toEqual([LAB_AGENTS.client, LAB_AGENTS.server]);
    });
  });
});
