// The Grafana dashboards as the tests read them, and what each panel's query
// must answer with: shared by the dashboard tests on hand-made rows and the
// query API's lab suite, which runs every panel against real lab data.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { repoRoot } from '../agent/repo-root.js';

export const DASHBOARDS_DIR = join(repoRoot(), 'dashboards');

export interface Target {
  refId: string;
  datasource?: { type?: string; uid?: string };
  rawSql: string;
  format: number;
  queryType: string;
  editorType: string;
}
export interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets: Target[];
}
export interface Variable {
  name: string;
  type: string;
  query: string;
  pluginId?: string;
  datasource?: { type?: string; uid?: string };
}
export interface Dashboard {
  uid: string;
  title: string;
  templating: { list: Variable[] };
  panels: Panel[];
}

export interface LoadedDashboards {
  /** File names, sorted. */
  files: string[];
  /** Each file's text, for rules about the raw JSON. */
  texts: Map<string, string>;
  dashboards: Map<string, Dashboard>;
}

export async function loadDashboards(): Promise<LoadedDashboards> {
  const files = (await readdir(DASHBOARDS_DIR)).filter((f) => f.endsWith('.json')).sort();
  const texts = new Map<string, string>();
  const dashboards = new Map<string, Dashboard>();
  for (const file of files) {
    const text = await readFile(join(DASHBOARDS_DIR, file), 'utf8');
    texts.set(file, text);
    dashboards.set(file, JSON.parse(text) as Dashboard);
  }
  return { files, texts, dashboards };
}

/** The columns each table panel shows, in order (time series: a time column first). */
export const TABLE_COLUMNS: Record<string, string[]> = {
  'Top host pairs': ['receiver', 'sender', 'resets', 'injected', 'top_causes', 'last_seen'],
  'Top remote endpoints': [
    'host',
    'remote_endpoint',
    'resets',
    'injected',
    'top_causes',
    'last_seen',
  ],
  'Resets by service pair': ['client', 'server', 'resets', 'injected', 'top_causes', 'last_seen'],
  Middleboxes: [
    'source_host',
    'destination',
    'destination_hosts',
    'source_names',
    'destination_name',
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

/**
 * What a panel's answer must look like: a time series starts with its time
 * column, a table has exactly its columns, a stat is one row.
 */
export function expectPanelShape(
  panel: Panel,
  columns: readonly { name: string; type: string }[],
  rowCount: number,
): void {
  const names = columns.map((c) => c.name);
  if (panel.type === 'timeseries') {
    expect(names[0], panel.title).toBe('time');
    expect(columns[0]!.type, panel.title).toMatch(/^DateTime/);
  } else if (panel.type === 'table') {
    expect(names, panel.title).toEqual(TABLE_COLUMNS[panel.title]);
  } else {
    expect(rowCount, panel.title).toBe(1);
  }
}
