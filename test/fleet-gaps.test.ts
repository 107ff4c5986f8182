// The fleet view's count of sent resets no agent saw, over stored heartbeats on
// real chDB through the real query service: steps between consecutive heartbeats
// of one boot whatever their run, a redelivered heartbeat counted once, a
// namespace made again under a reused inode, a new boot as a new baseline; and
// the agent's parser of /proc/net/snmp. The lab proof is test/agent-restart.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seenSentByNetns, tcpOutRsts } from '../agent/publish/kernel-sent-resets.js';
import { QueryClient } from '../cli/query-client.js';
import { startQueryServer } from '../collector/query/index.js';
import type { QueryServer } from '../collector/query/index.js';
import type { Storage } from '../collector/storage/storage.js';
import type { FleetAgent } from '../proto/index.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import { heartbeatRow } from './lab/reset-rows.js';

let dir: string;
let storage: Storage;
let server: QueryServer;
let client: QueryClient;

/** A heartbeat of host h at `s` seconds: per namespace [inode, kernel count, run's count]. */
function beat(boot: string, run: number, s: number, sent: [number, number, number][]) {
  return heartbeatRow('h', [], 0, s * 1000, {
    boot_id: boot,
    run_id: run,
    sent_netns: sent.map(([inode]) => inode),
    kernel_out_rsts: sent.map(([, k]) => k),
    seen_sent: sent.map(([, , seen]) => seen),
    clock_offset_ms: run === 2 ? 3_004 : null,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rstscope-fleet-gaps-'));
  storage = await openEmbeddedStorage(join(dir, 'data'), { retentionDays: 3650 });
  const redelivered = beat('b1', 1, 10, [
    [1, 130, 30],
    [2, 60, 8],
  ]);
  await storage.insert('agents', [
    // Run 1: the first heartbeat of the boot is the baseline; ns 2 sends 2 it misses.
    beat('b1', 1, 0, [
      [1, 100, 0],
      [2, 50, 0],
    ]),
    redelivered,
    // An agent from before migration 7: no counts, and it breaks nothing.
    heartbeatRow('old', [], 0, 1000, { boot_id: 'b1', run_id: 9 }),
  ]);
  await storage.insert('agents', [
    redelivered,
    // Run 2, after a stop: ns 1 sent 70 meanwhile and since, the run saw 20 of them.
    beat('b1', 2, 30, [
      [1, 200, 20],
      [2, 70, 5],
    ]),
    // ns 2 was deleted and made again under its inode: its count starts over.
    beat('b1', 2, 40, [
      [1, 210, 30],
      [2, 3, 8],
    ]),
    // A reboot: a new baseline, whatever the counts.
    beat('b2', 3, 50, [[1, 5, 5]]),
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
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function runs(host: string): Promise<FleetAgent[]> {
  const { agents } = await client.fleet({ host, stale_after_s: 0 });
  return [...agents].sort((a, b) => Number(a.run_id) - Number(b.run_id));
}

describe('Fleet: sent resets no agent saw', () => {
  it('counts, per run, the kernel’s increase and what no run counted, from the heartbeat before it', async () => {
    const [one, two, three] = await runs('h');
    // Run 1: ns 1 +30 seen 30; ns 2 +10 seen 8 (the redelivered copy counted once).
    expect(one).toMatchObject({ run_id: '1', kernel_sent: '40', unseen_sent: '2' });
    // Run 2: the gap before it (ns 1 +70, 20 seen; ns 2 +10, 5 seen) and its own
    // steps (ns 1 +10, 10 seen; ns 2 made again: 3 sent, 3 seen).
    expect(two).toMatchObject({ run_id: '2', kernel_sent: '93', unseen_sent: '55' });
    expect(three).toMatchObject({ run_id: '3', boot_id: 'b2', kernel_sent: '0', unseen_sent: '0' });
  });

  it('reports the latest clock offset, and none when it is unknown', async () => {
    const [one, two] = await runs('h');
    expect(two!.clock_offset_ms).toBe(3_004);
    expect(one!.clock_offset_ms).toBeUndefined();
  });

  it('gives zeros for an agent whose heartbeats carry no kernel counts', async () => {
    const [old] = await runs('old');
    expect(old).toMatchObject({ kernel_sent: '0', unseen_sent: '0' });
  });
});

describe('the agent’s kernel counts', () => {
  it('reads Tcp OutRsts from /proc/net/snmp by its column name', () => {
    const snmp = [
      'Ip: Forwarding DefaultTTL',
      'Ip: 1 64',
      'Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors',
      'Tcp: 1 200 120000 -1 5 6 0 0 1 100 90 0 0 18446744073709551615 0',
      'Udp: InDatagrams',
      'Udp: 3',
    ].join('\n');
    expect(tcpOutRsts(snmp)).toBe(18446744073709551615n);
    expect(tcpOutRsts('Tcp: RtoAlgorithm\nTcp: 1\n')).toBeUndefined();
    expect(tcpOutRsts('')).toBeUndefined();
  });

  it('sums the sent resets of the exact counters per namespace, received ones left out', () => {
    const entry = (netns: number, direction: number, count: bigint) => ({
      netns,
      direction,
      reason: 0,
      accepted: true,
      count,
    });
    const seen = seenSentByNetns([
      entry(1, 1, 3n),
      entry(1, 1, 4n),
      entry(1, 0, 9n),
      entry(2, 0, 1n),
    ]);
    expect([...seen]).toEqual([[1, 7n]]);
  });
});
