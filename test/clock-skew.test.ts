// Two hosts whose clocks disagree, for real: the server's agent runs under
// libfaketime (its clock, and so its loader's wall time for every reset, ahead by
// a few seconds), the client's on the true clock; both publish through one NATS
// into one collector on chDB. Within the matching tolerance (MATCH_TOLERANCE_S,
// 10 s) the server's reset still pairs with the client's (origin peer); past it
// (+15 s) it no longer does, as docs/diagnosis.md says. The heartbeats show each
// agent's offset from the JetStream server's clock. Needs root (namespaces, BPF)
// and the faketime package; fails loudly without them.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MATCH_TOLERANCE_S } from '../collector/diagnosis/flow-matching.js';
import { AgentRunner, RSTSCOPE_BIN } from './lab/agent-runner.js';
import { CollectorRunner } from './lab/collector-runner.js';
import { lingerZeroAbort, startAgents, stopAgents } from './lab/diagnosis-scenarios.js';
import type { ClosingProcessFacts } from './lab/diagnosis-scenarios.js';
import { Lab } from './lab/lab.js';
import { NatsServer } from './lab/nats-server.js';
import { queryRows } from './lab/stored-resets.js';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/** The environment of a process whose wall clock is `seconds` ahead. */
function skewedBy(seconds: number): NodeJS.ProcessEnv {
  return {
    LD_PRELOAD: LIBFAKETIME,
    FAKETIME: `+${seconds}s`,
    // Only the wall clock: the loader's wall time for a reset is CLOCK_REALTIME
    // minus CLOCK_BOOTTIME added to the kernel's boot-time stamp, so faking both
    // would cancel out, and a host with a wrong clock has a right boot clock.
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
}

interface Phase {
  skewS: number;
  client: string;
  server: string;
  port: number;
  facts?: ClosingProcessFacts;
}

const NEAR: Phase = { skewS: 3, client: 'client-3s', server: 'server-3s', port: 9500 };
const FAR: Phase = { skewS: 15, client: 'client-15s', server: 'server-15s', port: 9510 };

let lab: Lab;
let nats: NatsServer;
let collector: CollectorRunner;
let running: AgentRunner[] = [];

/** A client agent on the true clock, a server agent skewed; one abort between them. */
async function run(phase: Phase): Promise<void> {
  const env = skewedBy(phase.skewS);
  running = [
    ...(await startAgents(nats.url, [{ host: lab.client, name: phase.client }])),
    await AgentRunner.start(
      ['--netns', lab.server.ns, '--host', phase.server, '--nats', nats.url],
      env,
    ),
  ];
  try {
    phase.facts = await lingerZeroAbort(lab, phase.port);
  } finally {
    const now = running;
    running = [];
    // Their last heartbeats close their coverage.
    await stopAgents(now);
  }
}

async function rstscopeFleet(host: string): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(RSTSCOPE_BIN, [
    'fleet',
    '--server',
    collector.queryAddress,
    '--host',
    host,
    '--stale-after',
    '10m',
  ]);
}

async function rows(
  sql: string,
  params: Record<string, string>,
): Promise<Record<string, unknown>[]> {
  return queryRows(collector.queryAddress, sql, params);
}

/** The reset of one host at one port, with its diagnosis (both ends come from one phase). */
async function causeAt(host: string, port: number): Promise<Record<string, unknown>> {
  const found = await rows(
    `SELECT origin, sender_host, peer_event_id, direction,
            toUnixTimestamp64Nano(ts) AS ts_ns
     FROM reset_causes
     WHERE host = {host:String} AND (local_port = {port:UInt16} OR remote_port = {port:UInt16})`,
    { host, port: String(port) },
  );
  expect(found, `one reset on ${host} at port ${port}`).toHaveLength(1);
  return found[0]!;
}

async function waitForResets(phase: Phase): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const [r] = await rows(
      'SELECT count() AS n FROM resets WHERE host IN ({a:String}, {b:String})',
      { a: phase.client, b: phase.server },
    );
    if (Number(r!.n) >= 2) return;
    if (Date.now() > deadline) throw new Error(`the resets of ${phase.server} never arrived`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The server's reset time minus the client's: the skew as the rows carry it. */
async function rowSkewMs(phase: Phase): Promise<number> {
  const sent = await causeAt(phase.server, phase.port);
  const received = await causeAt(phase.client, phase.port);
  return Number(BigInt(String(sent.ts_ns)) - BigInt(String(received.ts_ns))) / 1e6;
}

beforeAll(async () => {
  if (!existsSync(LIBFAKETIME)) throw new Error(`${LIBFAKETIME} missing: run scripts/setup.sh`);
  lab = Lab.create();
  nats = await NatsServer.start();
  collector = await CollectorRunner.start(nats.url);
  await run(NEAR);
  await run(FAR);
  await waitForResets(NEAR);
  await waitForResets(FAR);
}, 120_000);

afterAll(async () => {
  try {
    if (running.length) await stopAgents(running);
  } finally {
    await collector?.dispose();
    await nats?.stop();
    lab?.destroy();
  }
});

describe('two hosts with skewed clocks', () => {
  it(`${NEAR.skewS} s ahead, within ±${MATCH_TOLERANCE_S} s: the reset still pairs with its sender`, async () => {
    // The skew is real: the server's row is stamped ~3 s after the client's.
    expect(await rowSkewMs(NEAR)).toBeGreaterThan(NEAR.skewS * 1000 - 600);
    expect(await rowSkewMs(NEAR)).toBeLessThan(NEAR.skewS * 1000 + 600);
    const received = await causeAt(NEAR.client, NEAR.port);
    const sent = await causeAt(NEAR.server, NEAR.port);
    expect(received).toMatchObject({
      direction: 'received',
      origin: 'peer',
      sender_host: NEAR.server,
    });
    expect(sent).toMatchObject({ direction: 'sent', origin: 'local' });
    expect(sent.peer_event_id).not.toBeNull();
  });

  it(`${FAR.skewS} s ahead, past ±${MATCH_TOLERANCE_S} s: the pair no longer matches`, async () => {
    expect(await rowSkewMs(FAR)).toBeGreaterThan(FAR.skewS * 1000 - 600);
    const received = await causeAt(FAR.client, FAR.port);
    const sent = await causeAt(FAR.server, FAR.port);
    expect(received.origin).not.toBe('peer');
    expect(received.sender_host).toBeNull();
    expect(sent.peer_event_id).toBeNull();
  });

  // Measured against JetStream's receive time, which the intake passes on with each
  // message (collector/nats-intake.ts receivedAtNs).
  it('the heartbeats show each agent’s clock offset', async () => {
    const offsets = await rows(
      `SELECT CAST(host AS String) AS host, median(clock_offset_ms) AS offset_ms
       FROM agents WHERE host IN ({a:String}, {b:String}, {c:String}, {d:String})
       GROUP BY host`,
      { a: NEAR.client, b: NEAR.server, c: FAR.client, d: FAR.server },
    );
    const at = (host: string) => Number(offsets.find((r) => r.host === host)?.offset_ms);
    // The publish delay adds a few ms; a loaded machine maybe a few hundred.
    expect(Math.abs(at(NEAR.client))).toBeLessThan(500);
    expect(Math.abs(at(NEAR.server) - 3_000)).toBeLessThan(500);
    expect(Math.abs(at(FAR.server) - 15_000)).toBeLessThan(500);
    // The fleet view shows it, and warns past half the tolerance.
    const fleet = await rstscopeFleet(FAR.server);
    expect(fleet.stdout).toMatch(/\+1[45]\.\d s/);
    expect(fleet.stderr).toContain(`${FAR.server}'s clock is +1`);
    expect((await rstscopeFleet(NEAR.server)).stderr).not.toContain('clock is');
  });
});
