// An agent restarted mid-storm, on a real kernel through real NATS into chDB: one run
// stopped with SIGTERM, one killed with SIGKILL, each started again while a
// closed-port SYN storm keeps the server's kernel sending resets. Nothing is stored
// twice; each cleanly stopped run stored exactly what its counters say it
// published; and every reset the server's kernel sent (TcpOutRsts, read here
// independently with nstat) is either counted by a run or in the gap that the
// fleet view reports as unseen. Needs root (namespaces, BPF); fails loudly without it.
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetAgent } from '../proto/index.js';
import { AgentRunner, RSTSCOPE_BIN } from './lab/agent-runner.js';
import { CollectorRunner } from './lab/collector-runner.js';
import { Lab } from './lab/lab.js';
import { NatsServer } from './lab/nats-server.js';
import { synStorm } from './lab/scenarios.js';
import { queryRows } from './lab/stored-resets.js';

const HOST = 'restarted';
const CLOSED_PORT = 9;

let lab: Lab;
let nats: NatsServer;
let collector: CollectorRunner;
const agents: AgentRunner[] = [];
let kernelSent = 0;
/** How each run ended, in start order. */
const endings: Array<'SIGTERM' | 'SIGKILL'> = ['SIGTERM', 'SIGKILL', 'SIGTERM'];

function tcpOutRsts(): number {
  const out = lab.exec(lab.server, ['nstat', '-asz', 'TcpOutRsts']);
  return Number(/TcpOutRsts\s+(\d+)/.exec(out)?.[1] ?? NaN);
}

async function one<T>(sql: string): Promise<T> {
  const [row] = await queryRows<T>(collector.queryAddress, sql, { host: HOST });
  return row!;
}

async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** Runs whose heartbeats are stored: a run announces itself once its stream is ready. */
async function runsStored(): Promise<number> {
  const r = await one<{ n: string }>(
    'SELECT uniqExact(run_id) AS n FROM agents WHERE host = {host:String}',
  );
  return Number(r.n);
}

async function startRun(): Promise<AgentRunner> {
  const before = await runsStored();
  const agent = await AgentRunner.start([
    '--netns',
    lab.server.ns,
    '--host',
    HOST,
    '--nats',
    nats.url,
  ]);
  agents.push(agent);
  await until('the new run’s first heartbeat', async () => (await runsStored()) > before);
  return agent;
}

async function fleet(): Promise<FleetAgent[]> {
  const { stdout } = await promisify(execFile)(RSTSCOPE_BIN, [
    'fleet',
    '--server',
    collector.queryAddress,
    '--host',
    HOST,
    '--json',
  ]);
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { agent?: FleetAgent })
    .flatMap((l) => (l.agent ? [l.agent] : []))
    .sort((a, b) => Number(BigInt(a.run_id) - BigInt(b.run_id)));
}

beforeAll(async () => {
  lab = Lab.create();
  nats = await NatsServer.start();
  collector = await CollectorRunner.start(nats.url);
  let storming = true;
  let run = await startRun();
  // From here the only resets the server's namespace sends are the storm's.
  const before = tcpOutRsts();
  const storm = (async () => {
    while (storming) await synStorm(lab, CLOSED_PORT, 300, 1_000);
  })();
  try {
    for (const [i, ending] of endings.entries()) {
      await sleep(3_000);
      if (i === endings.length - 1) break;
      if (ending === 'SIGTERM') {
        run.child.kill('SIGTERM');
        await run.stop(); // waits for the exit and reads the counters it printed
      } else {
        run.kill();
        await new Promise((resolve) => run.child.once('exit', resolve));
      }
      // Nobody watches for a while: the storm goes on.
      await sleep(2_000);
      run = await startRun();
    }
  } finally {
    storming = false;
    await storm;
  }
  kernelSent = tcpOutRsts() - before;
  run.child.kill('SIGTERM');
  await run.stop();
  // The last run's final heartbeat, and every row its counters say it published.
  await until('the last heartbeat and rows', async () => {
    const agentsNow = await fleet();
    const last = agentsNow[agentsNow.length - 1];
    const stored = await one<{ n: string }>(
      'SELECT count() AS n FROM resets WHERE host = {host:String}',
    );
    return (
      agentsNow.length === 3 &&
      last!.counters!.published === String(run.publish?.published) &&
      Number(stored.n) >= Number(last!.stored) &&
      last!.stored === last!.counters!.published
    );
  });
}, 120_000);

afterAll(async () => {
  for (const agent of agents) if (agent.child.exitCode === null) agent.kill();
  await collector?.dispose();
  await nats?.stop();
  lab?.destroy();
});

describe('an agent restarted mid-storm', () => {
  it('stores no reset twice', async () => {
    const r = await one<{ rows: string; distinct: string }>(
      `SELECT count() AS rows, uniqExact(batch_id, batch_index) AS distinct
       FROM resets WHERE host = {host:String}`,
    );
    expect(Number(r.rows)).toBeGreaterThan(1_000);
    expect(r.distinct).toBe(r.rows);
  });

  it('stores what each stopped run says it published; the killed run at least as much', async () => {
    const runs = await fleet();
    expect(runs).toHaveLength(3);
    for (const [i, ending] of endings.entries()) {
      const { counters, stored, missing } = runs[i]!;
      const about = `run ${i + 1} (${ending}): ${JSON.stringify(runs[i])}`;
      if (ending === 'SIGTERM') {
        expect(stored, about).toBe(counters!.published);
        // Seen and not stored only if lost in the kernel or dropped in the agent, counted.
        expect(BigInt(missing), about).toBe(
          BigInt(counters!.lost_kernel) + BigInt(counters!.dropped_agent),
        );
      } else {
        // Killed: what it published after its last heartbeat is stored but in no counter.
        expect(BigInt(stored)).toBeGreaterThanOrEqual(BigInt(counters!.published));
      }
    }
  });

  it('accounts for every reset the kernel sent: seen by a run, or unseen in the fleet view', async () => {
    const runs = await fleet();
    const seen = runs.reduce((n, r) => n + BigInt(r.counters!.seen), 0n);
    const unseen = runs.reduce((n, r) => n + BigInt(r.unseen_sent), 0n);
    const kernel = runs.reduce((n, r) => n + BigInt(r.kernel_sent), 0n);
    expect(kernel, JSON.stringify(runs)).toBe(BigInt(kernelSent));
    expect(seen + unseen).toBe(BigInt(kernelSent));
    // Two pauses of 2 s at ~900 resets/s, plus what the killed run saw after its last heartbeat.
    expect(unseen).toBeGreaterThan(1_000n);
    // A gap lands in the run after it (its first heartbeat's step spans the gap).
    expect(BigInt(runs[1]!.unseen_sent)).toBeGreaterThan(0n);
    expect(BigInt(runs[2]!.unseen_sent)).toBeGreaterThan(0n);
  });
});
