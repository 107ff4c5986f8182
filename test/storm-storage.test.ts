// Storm aggregates in storage: a heartbeat's aggregates become rows of
// reset_aggregates in the heartbeat's own INSERT, a redelivered heartbeat's
// rows collapse, and Fleet reports counters.aggregated from the agents table.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heartbeatRow } from '../collector/ingest/heartbeat-row.js';
import type { Storage } from '../collector/storage/storage.js';
import type { AgentHeartbeat } from '../proto/index.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';

const NOW_NS = BigInt(Date.now()) * 1_000_000n;

const heartbeat: AgentHeartbeat = {
  host: 'storm-node',
  boot_id: 'boot-1',
  run_id: '7',
  agent_version: 'test',
  kernel_release: '6.18',
  addresses: [],
  netns: [{ inode: 4026532000, name: 'web' }],
  all_netns: false,
  counters: {
    seen: '1000',
    lost_kernel: '10',
    dropped_agent: '0',
    published: '90',
    buffered: '0',
    batches_published: '1',
    batches_dropped: '0',
    decoded: '90',
    aggregated: '900',
  },
  covered_from_unix_ns: (NOW_NS - 60_000_000_000n).toString(),
  covered_to_unix_ns: NOW_NS.toString(),
  interval_s: 10,
  sent_resets: [],
  aggregates: [
    {
      netns: 4026532000,
      direction: 'sent',
      reason: 'NO_SOCKET',
      family: 'ipv4',
      remote_prefix: '10.1.0.0/24',
      remote_port: 42000,
      resets: '800',
      first_unix_ns: (NOW_NS - 5_000_000_000n).toString(),
      last_unix_ns: (NOW_NS - 1_000_000_000n).toString(),
    },
    {
      netns: 4026532000,
      direction: 'received',
      reason: 'UNKNOWN',
      family: 'ipv6',
      remote_prefix: 'fd00:1:0:0::/64',
      remote_port: 443,
      resets: '100',
      first_unix_ns: (NOW_NS - 4_000_000_000n).toString(),
      last_unix_ns: (NOW_NS - 2_000_000_000n).toString(),
    },
  ],
};

let dir: string;
let storage: Storage;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rstscope-storm-storage-'));
  storage = await openEmbeddedStorage(dir);
});

afterAll(async () => {
  await storage?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('reset_aggregates', () => {
  it('stores each aggregate of a heartbeat once, also when the heartbeat is redelivered', async () => {
    await storage.insert('agents', [heartbeatRow(heartbeat)]);
    await storage.insert('agents', [heartbeatRow(heartbeat)]);
    const rows = await storage.query(
      `SELECT host, boot_id, run_id, netns, direction, reason, family, remote_prefix, remote_port,
              resets, toUnixTimestamp64Nano(first_ts) AS first, toUnixTimestamp64Nano(last_ts) AS last,
              toUnixTimestamp64Nano(ts) AS hb
       FROM reset_aggregates FINAL ORDER BY resets DESC`,
    );
    expect(rows).toEqual(
      heartbeat.aggregates.map((a) => ({
        host: 'storm-node',
        boot_id: 'boot-1',
        run_id: '7',
        netns: a.netns,
        direction: a.direction,
        reason: a.reason,
        family: a.family,
        remote_prefix: a.remote_prefix,
        remote_port: a.remote_port,
        resets: a.resets,
        first: a.first_unix_ns,
        last: a.last_unix_ns,
        hb: heartbeat.covered_to_unix_ns,
      })),
    );
    const [agent] = await storage.query(
      "SELECT aggregated, length(aggregates) AS n FROM agents FINAL WHERE host = 'storm-node'",
    );
    expect(agent).toEqual({ aggregated: '900', n: '2' });
  });
});
