// Reset storms on a real kernel: a closed-port SYN flood (hping3) at the lab
// server while its agent's loader is stopped, so the small ring buffer overruns.
// The kernel's exact count must equal what was recorded, summed or lost, the
// sums must reach reset_aggregates through NATS and the collector, the
// aggregate map's bound must hold, and an ordinary burst must not be summed.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LOADER_PATH } from '../agent/config.js';
import { QueryClient } from '../cli/query-client.js';
import { AgentRunner } from './lab/agent-runner.js';
import type { AgentCounters } from './lab/agent-runner.js';
import { CollectorRunner } from './lab/collector-runner.js';
import { Lab } from './lab/lab.js';
import { NatsServer } from './lab/nats-server.js';
import { queryRows, waitForRows } from './lab/stored-resets.js';
import { until } from './lab/until.js';

const CLOSED_PORT = '9';
/** Far fewer than the /24s of a --rand-source flood: the bound must show. */
const SLOTS = 16;

let lab: Lab;
let nats: NatsServer;
let collector: CollectorRunner;
let dir: string;

beforeAll(async () => {
  lab = Lab.create();
  nats = await NatsServer.start();
  collector = await CollectorRunner.start(nats.url);
  dir = mkdtempSync(join(tmpdir(), 'rstscope-storm-'));
  // The agent runs whatever RSTSCOPE_LOADER names: the real loader, telling
  // the test its pid so it can be stopped.
  writeFileSync(
    join(dir, 'loader'),
    `#!/bin/sh\necho $$ > ${dir}/loader.pid\nexec ${DEFAULT_LOADER_PATH} "$@"\n`,
  );
  chmodSync(join(dir, 'loader'), 0o755);
});

afterAll(async () => {
  await collector?.dispose();
  await nats?.stop();
  lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function tcpOutRsts(): number {
  const out = lab.exec(lab.server, ['nstat', '-asz', 'TcpOutRsts']);
  return Number(/TcpOutRsts\s+(\d+)/.exec(out)?.[1] ?? 0);
}

/** SYNs from the lab client to the server's closed port: one NO_SOCKET reset each. */
function flood(count: number, sourcePort: number, extra: string[] = []): void {
  // hping3 exits 1 when no reply came back, as for --rand-source: not a failure here.
  lab.exec(lab.client, [
    'sh',
    '-c',
    'hping3 "$@" || [ $? -eq 1 ]',
    'hping3',
    '-q',
    '-S',
    '-p',
    CLOSED_PORT,
    '-k',
    '-s',
    String(sourcePort),
    '-i',
    'u20',
    '-c',
    String(count),
    ...extra,
    lab.server.ipv4,
  ]);
}

type Summary = AgentCounters & { aggregated: number };

function seen(c: Summary): number {
  return c.entries.reduce((sum, e) => sum + e.count, 0);
}

describe('reset storms', () => {
  it('records an ordinary burst one by one: nothing summed, nothing lost', async () => {
    const before = tcpOutRsts();
    const agent = await AgentRunner.start(['--netns', lab.server.ns, '--ringbuf-mb', '1']);
    let counters: Summary;
    try {
      // 2000 records are ~400 KiB: under 3/4 of the 1 MiB ring even if nobody read it.
      flood(2000, 41000);
      await until(() => agent.events.items.length >= 2000, '2000 records', 15_000);
    } finally {
      counters = (await agent.stop()) as Summary;
    }
    const emitted = tcpOutRsts() - before;
    expect(emitted).toBe(2000);
    expect(seen(counters)).toBe(emitted);
    expect(counters).toMatchObject({ delivered: emitted, aggregated: 0, lost: 0 });
  });

  it('sums a storm past a 1 MiB ring buffer into bounded aggregates that reach the store', async () => {
    const before = tcpOutRsts();
    const agent = await AgentRunner.start(
      [
        ...['--netns', lab.server.ns, '--ringbuf-mb', '1', '--aggregate-slots', String(SLOTS)],
        ...['--nats', nats.url, '--host', 'storm-host'],
      ],
      { RSTSCOPE_LOADER: join(dir, 'loader') },
    );
    let counters: Summary;
    try {
      const loaderPid = Number(readFileSync(join(dir, 'loader.pid'), 'utf8'));
      // The loader stopped: nobody reads the ring buffer, nobody drains the sums.
      process.kill(loaderPid, 'SIGSTOP');
      try {
        flood(20_000, 42000); // one key: this /24, this port
        flood(3000, 42001, ['--rand-source']); // thousands of /24s: more than the slots
      } finally {
        process.kill(loaderPid, 'SIGCONT');
      }
      await new Promise((resolve) => setTimeout(resolve, 1500));
    } finally {
      counters = (await agent.stop()) as Summary;
    }
    const emitted = tcpOutRsts() - before;
    // Every reset the kernel sent is counted, and is a record, a sum, or a counted loss.
    expect(seen(counters)).toBe(emitted);
    expect(counters.delivered + counters.aggregated + counters.lost).toBe(emitted);
    // The ring (3/4 of 1 MiB: ~3800 records) took the start of the storm one by one.
    expect(counters.delivered).toBeGreaterThan(3000);
    expect(counters.aggregated).toBeGreaterThan(10_000);
    // The random sources found the map nearly full: summed without their remote, not lost.
    expect(counters.lost).toBe(0);
    expect(agent.publish).toMatchObject({ dropped_agent: 0 });

    const stored = async () =>
      (
        await queryRows<{ keys: string; resets: string }>(
          collector.queryAddress,
          "SELECT count() AS keys, sum(resets) AS resets FROM reset_aggregates FINAL WHERE host = 'storm-host'",
        )
      )[0];
    let total: { keys: string; resets: string } | undefined;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      total = await stored();
      if (Number(total?.resets) >= counters.aggregated) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(Number(total?.resets)).toBe(counters.aggregated);
    // One drain after the storm: never more keys than the kernel map holds.
    expect(Number(total?.keys)).toBeLessThanOrEqual(SLOTS);

    const [fixed] = await queryRows<Record<string, unknown>>(
      collector.queryAddress,
      "SELECT direction, reason, family, remote_prefix, sum(resets) AS resets FROM reset_aggregates FINAL WHERE host = 'storm-host' AND remote_port = 42000 GROUP BY direction, reason, family, remote_prefix",
    );
    expect(fixed).toMatchObject({
      direction: 'sent',
      reason: 'NO_SOCKET',
      family: 'ipv4',
      remote_prefix: '10.1.0.0/24',
    });
    expect(Number(fixed?.resets)).toBeGreaterThan(10_000);
    const [merged] = await queryRows<Record<string, unknown>>(
      collector.queryAddress,
      "SELECT remote_port, sum(resets) AS resets FROM reset_aggregates FINAL WHERE host = 'storm-host' AND remote_prefix = '0.0.0.0/0' GROUP BY remote_port",
    );
    expect(merged?.remote_port).toBe(0);
    expect(Number(merged?.resets)).toBeGreaterThan(1000);

    const [heartbeat] = await queryRows<Record<string, unknown>>(
      collector.queryAddress,
      "SELECT seen, decoded, aggregated, lost_kernel FROM agents FINAL WHERE host = 'storm-host' ORDER BY ts DESC LIMIT 1",
    );
    expect(heartbeat).toEqual({
      seen: String(emitted),
      decoded: String(counters.delivered),
      aggregated: String(counters.aggregated),
      lost_kernel: String(counters.lost),
    });

    // Fleet: the run's aggregated count from storage, and nothing missing but the counted losses.
    expect(await waitForRows(collector.queryAddress, counters.delivered)).toBe(counters.delivered);
    const client = new QueryClient(collector.queryAddress);
    try {
      const run = (await client.fleet()).agents.find((a) => a.host === 'storm-host');
      expect(run?.counters.aggregated).toBe(String(counters.aggregated));
      expect(run?.stored).toBe(String(counters.delivered));
      expect(run?.missing).toBe(String(counters.lost));
    } finally {
      client.close();
    }
  }, 60_000);
});
