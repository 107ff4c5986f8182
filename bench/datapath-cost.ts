// What the agent's extra tracepoints cost the data path: netif_receive_skb
// (every packet), tcp_probe (every segment an established socket receives),
// sock_{send,recv}_length (every send and receive call), softirq_entry/exit and
// inet_sock_set_state (every state change). Two loads between lab namespaces,
// through the lab router, without and with the agent loaded on every namespace:
// a bulk iperf3 transfer, and many short connections (bench/short-connections.ts).
// Runs alternate which side goes first, so a machine that slows down over the
// run does not always count against the same side.
//
// Then, unless --skip-program-stats, one more pass of both loads with the agent
// and kernel.bpf_stats_enabled=1: the kernel's own run count and run time of each
// program, and all programs' time per GB (bulk) and per connection (short): far
// less noisy than throughput on a shared machine. The kernel times
// include its reading of the clock around every run (~45 ns on this VM: an
// almost empty program shows it), and the pass itself runs slower for it.
// Divided by the busy CPU of the whole machine (/proc/stat) per GB and per
// connection without the agent, they give the agent's cost as a share of what
// the work costs: the figure to hold to the < 2 % bar on a VM whose throughput
// drifts by more than that from one run to the next.
//
//   node dist/bench/datapath-cost.js [--seconds 5] [--runs 3] [--concurrency 32]
//                                    [--skip-program-stats] [--json]
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../agent/repo-root.js';
import { AgentRunner } from '../test/lab/agent-runner.js';
import { Lab } from '../test/lab/lab.js';
import { median } from './median.js';
import { cpuSeconds, processTree } from './proc-stats.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '32' },
    'skip-program-stats': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const RUNS = Number(values.runs);
const CONCURRENCY = Number(values.concurrency);
const SHORT_PORT = 5202;
const SHORT_CONNECTIONS = join(repoRoot(), 'dist', 'bench', 'short-connections.js');
const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';
/** USER_HZ, the unit of /proc/stat. */
const CLK_TCK = 100;

interface Bulk {
  gbps: number;
  bytes: number;
  /** Busy CPU of the whole machine (user, system, irq, softirq) per GB received, ms. */
  machineMsPerGB: number;
  /** CPU of the iperf3 processes, percent of one core. */
  senderCpu: number;
  receiverCpu: number;
}

interface Short {
  connections: number;
  perSecond: number;
  /** CPU seconds of both load processes per 1000 connections. */
  cpuPer1k: number;
  /** Busy CPU of the whole machine per connection, µs: softirq work included, whoever it is charged to. */
  machineUsPerConnection: number;
  errors: number;
}

interface Sample {
  bulk: Bulk;
  short: Short;
}

export interface ProgramStat {
  program: string;
  runsPerSecond: number;
  nsPerRun: number;
  /** Share of one core spent in the program. */
  coreShare: number;
}

/** The programs' cost under one load, whole and per unit of work. */
export interface LoadPrograms {
  load: 'bulk' | 'short';
  /** All programs' time per unit: per GB received (bulk), per connection (short). */
  microsecondsPer: number;
  unit: 'GB' | 'connection';
  programs: ProgramStat[];
  /**
   * The programs' time as a share of the busy CPU the same work costs the
   * machine without the agent: the data-path cost in CPU, set by report().
   * An upper bound: the kernel's clock reads around each run are in it.
   */
  shareOfLoadPercent?: number;
}

/**
 * Busy CPU seconds of the whole machine so far (user, nice, system, irq, softirq
 * from /proc/stat; idle, iowait and steal left out). Unlike throughput, busy CPU
 * per unit of work does not drift with how much CPU the hypervisor gives us.
 */
function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq] = fields.slice(1).map(Number) as number[];
  return (user! + nice! + system! + irq! + softirq!) / CLK_TCK;
}

function bulk(lab: Lab): Bulk {
  const busy0 = machineBusySeconds();
  const out = lab.exec(lab.client, ['iperf3', '-J', '-t', String(SECONDS), '-c', lab.server.ipv4]);
  const { end } = JSON.parse(out) as {
    end: {
      sum_received: { bits_per_second: number; bytes: number };
      cpu_utilization_percent: { host_total: number; remote_total: number };
    };
  };
  const busy = machineBusySeconds() - busy0;
  return {
    gbps: end.sum_received.bits_per_second / 1e9,
    bytes: end.sum_received.bytes,
    machineMsPerGB: (busy * 1000) / (end.sum_received.bytes / 1e9),
    senderCpu: end.cpu_utilization_percent.host_total,
    receiverCpu: end.cpu_utilization_percent.remote_total,
  };
}

function exited(child: ChildProcess): Promise<string> {
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (t: string) => (out += t));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`short-connections exited ${code}`)),
    ),
  );
}

async function short(lab: Lab, server: ChildProcess): Promise<Short> {
  const serverCpu = cpuSeconds([server.pid!]);
  const busy0 = machineBusySeconds();
  const client = lab.spawn(lab.client, [
    process.execPath,
    SHORT_CONNECTIONS,
    'connect',
    lab.server.ipv4,
    String(SHORT_PORT),
    String(SECONDS),
    String(CONCURRENCY),
  ]);
  const result = JSON.parse(await exited(client)) as {
    connections: number;
    errors: number;
    seconds: number;
    cpu: number;
  };
  const cpu = result.cpu + cpuSeconds([server.pid!]) - serverCpu;
  const busy = machineBusySeconds() - busy0;
  return {
    machineUsPerConnection: (busy * 1e6) / result.connections,
    connections: result.connections,
    perSecond: result.connections / result.seconds,
    cpuPer1k: (cpu / result.connections) * 1000,
    errors: result.errors,
  };
}

function both(lab: Lab, server: ChildProcess): Promise<Sample> {
  const b = bulk(lab);
  return short(lab, server).then((s) => ({ bulk: b, short: s }));
}

/** The ids of the BPF programs the process holds open, from its fd table. */
function programIds(pid: number): number[] {
  const ids: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.push(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return ids;
}

type Runs = Map<string, { ns: number; count: number }>;

function programRuns(ids: number[]): Runs {
  const shown = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' }));
  const runs: Runs = new Map();
  for (const p of shown as { id: number; name?: string; run_time_ns?: number; run_cnt?: number }[])
    if (ids.includes(p.id))
      runs.set(p.name ?? String(p.id), { ns: p.run_time_ns ?? 0, count: p.run_cnt ?? 0 });
  return runs;
}

/** What each program did between two readings `seconds` apart, most costly first. */
function between(start: Runs, end: Runs, seconds: number): ProgramStat[] {
  return [...end]
    .map(([program, e]) => {
      const s = start.get(program) ?? { ns: 0, count: 0 };
      const count = e.count - s.count;
      return {
        program,
        runsPerSecond: count / seconds,
        nsPerRun: count ? (e.ns - s.ns) / count : 0,
        coreShare: (e.ns - s.ns) / 1e9 / seconds,
      };
    })
    .sort((a, b) => b.coreShare - a.coreShare);
}

function load(
  name: LoadPrograms['load'],
  programs: ProgramStat[],
  seconds: number,
  units: number,
): LoadPrograms {
  const ns = programs.reduce((sum, p) => sum + p.coreShare * seconds * 1e9, 0);
  return {
    load: name,
    unit: name === 'bulk' ? 'GB' : 'connection',
    microsecondsPer: ns / 1000 / units,
    programs,
  };
}

/** Both loads once more with the agent and the kernel's per-program statistics on. */
async function programStats(lab: Lab, server: ChildProcess): Promise<LoadPrograms[]> {
  const before = readFileSync(BPF_STATS, 'utf8').trim();
  const agent = await AgentRunner.start([]);
  try {
    writeFileSync(BPF_STATS, '1');
    const ids = processTree(agent.child.pid!).flatMap(programIds);
    const r0 = programRuns(ids);
    const t0 = performance.now();
    const b = bulk(lab);
    const r1 = programRuns(ids);
    const t1 = performance.now();
    const s = await short(lab, server);
    const r2 = programRuns(ids);
    const t2 = performance.now();
    const bulkSeconds = (t1 - t0) / 1000;
    const shortSeconds = (t2 - t1) / 1000;
    return [
      load('bulk', between(r0, r1, bulkSeconds), bulkSeconds, b.bytes / 1e9),
      load('short', between(r1, r2, shortSeconds), shortSeconds, s.connections),
    ];
  } finally {
    writeFileSync(BPF_STATS, before);
    await agent.stop();
  }
}

function percent(without: number, withAgent: number): number {
  return ((withAgent - without) / without) * 100;
}

async function main() {
  const lab = Lab.create();
  try {
    // Thousands of connections a second from one address: recycle TIME_WAIT
    // ports instead of running out of them.
    lab.exec(lab.client, ['sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=1']);
    lab.exec(lab.client, ['sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65000']);
    const iperfServer = lab.spawn(lab.server, ['iperf3', '-s']);
    const shortServer = lab.spawn(lab.server, [
      process.execPath,
      SHORT_CONNECTIONS,
      'serve',
      String(SHORT_PORT),
    ]);
    await new Promise<void>((resolve) => shortServer.stdout!.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 300));

    const without: Sample[] = [];
    const withAgent: Sample[] = [];
    for (let i = 0; i < RUNS; i++) {
      if (i % 2 === 0) without.push(await both(lab, shortServer));
      // The agent watches every namespace, as on a real host.
      const agent = await AgentRunner.start([]);
      try {
        withAgent.push(await both(lab, shortServer));
      } finally {
        await agent.stop();
      }
      if (i % 2 === 1) without.push(await both(lab, shortServer));
    }
    const programs = values['skip-program-stats'] ? [] : await programStats(lab, shortServer);
    iperfServer.kill();
    shortServer.kill();
    report(without, withAgent, programs);
  } finally {
    lab.destroy();
  }
}

function report(without: Sample[], withAgent: Sample[], programs: LoadPrograms[]) {
  const m = (xs: Sample[], f: (s: Sample) => number) => median(xs.map(f));
  const rows = [
    ['bulk Gbit/s', (s: Sample) => s.bulk.gbps],
    ['bulk sender CPU %', (s: Sample) => s.bulk.senderCpu],
    ['bulk receiver CPU %', (s: Sample) => s.bulk.receiverCpu],
    ['bulk machine CPU ms / GB', (s: Sample) => s.bulk.machineMsPerGB],
    ['short connections/s', (s: Sample) => s.short.perSecond],
    ['short CPU s / 1k conns', (s: Sample) => s.short.cpuPer1k],
    ['short machine CPU µs / conn', (s: Sample) => s.short.machineUsPerConnection],
  ] as const;
  const figures = rows.map(([name, f]) => {
    const a = m(without, f);
    const b = m(withAgent, f);
    return { name, without: a, withAgent: b, differencePercent: percent(a, b) };
  });
  const errors = [...without, ...withAgent].reduce((n, s) => n + s.short.errors, 0);
  for (const l of programs) {
    const loadCost =
      l.unit === 'GB'
        ? m(without, (s) => s.bulk.machineMsPerGB) * 1000
        : m(without, (s) => s.short.machineUsPerConnection);
    l.shareOfLoadPercent = (l.microsecondsPer / loadCost) * 100;
  }
  const version = execFileSync('iperf3', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  const conditions = {
    kernel: release(),
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? '',
    iperf3: version,
    node: process.version,
    seconds: SECONDS,
    runs: RUNS,
    concurrency: CONCURRENCY,
    loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
  if (values.json) {
    console.log(JSON.stringify({ conditions, figures, errors, programs }));
    return;
  }
  console.log(
    `data-path cost: kernel ${conditions.kernel}, ${conditions.cores} cores, ${version}, ` +
      `node ${conditions.node}, load average ${conditions.loadAverage} at the end`,
  );
  console.log(
    `client -> server through the lab router, ${SECONDS} s per load, median of ${RUNS}; ` +
      `short connections: ${CONCURRENCY} at a time, 16 bytes each way\n`,
  );
  console.log('figure                    without      with agent   difference');
  for (const f of figures)
    console.log(
      `${f.name.padEnd(24)} ${f.without.toFixed(3).padStart(9)}  ${f.withAgent
        .toFixed(3)
        .padStart(12)}   ${f.differencePercent.toFixed(1).padStart(6)} %`,
    );
  if (errors) console.log(`\n${errors} short connections failed: the load is suspect`);
  for (const l of programs) {
    console.log(
      `\n${l.load} load once more with kernel.bpf_stats_enabled=1: all programs ` +
        `${l.microsecondsPer.toFixed(l.unit === 'GB' ? 0 : 2)} µs per ${l.unit}, ` +
        `${l.shareOfLoadPercent!.toFixed(2)} % of the busy CPU a ${l.unit} costs without the agent`,
    );
    console.log('program                   runs/s      ns/run   % of a core');
    for (const p of l.programs.filter((p) => p.runsPerSecond >= 1))
      console.log(
        `${p.program.padEnd(24)} ${p.runsPerSecond.toFixed(0).padStart(8)} ${p.nsPerRun
          .toFixed(0)
          .padStart(10)}   ${(p.coreShare * 100).toFixed(2).padStart(8)}`,
      );
  }
}

await main();
