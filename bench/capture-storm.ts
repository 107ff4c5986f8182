// Capture under a closed-port SYN storm: the lab client floods the server's
// closed port with SYNs (hping3), the server's kernel answers each with a
// NO_SOCKET reset, and one agent covering the server's namespace records them.
// Prints, per rate, the median of the runs: resets the kernel emitted
// (TcpOutRsts), events the agent decoded, events counted as lost, the agent's
// CPU seconds (node + loader) and peak RSS.
//
//   node dist/bench/capture-storm.js [--seconds 5] [--runs 3]
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { parseArgs } from 'node:util';
import { RSTSCOPE_BIN } from '../test/lab/agent-runner.js';
import { Lab } from '../test/lab/lab.js';
import { cpuSeconds } from './proc-stats.js';
import { median } from './median.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, runs: { type: 'string', default: '3' } },
});
const SECONDS = Number(values.seconds);
const RUNS = Number(values.runs);
const CLOSED_PORT = 9;

/** hping3 interval per target rate; 0 = --flood, as fast as it goes. */
const RATES: ReadonlyArray<[string, number]> = [
  ['1k/s', 1000],
  ['10k/s', 100],
  ['20k/s', 50],
  ['max', 0],
];

interface Sample {
  emitted: number;
  decoded: number;
  lost: number;
  cpuS: number;
  rssMiB: number;
}

function tcpOutRsts(lab: Lab): number {
  const out = lab.exec(lab.server, ['nstat', '-asz', 'TcpOutRsts']);
  return Number(/TcpOutRsts\s+(\d+)/.exec(out)?.[1] ?? 0);
}

function processTree(pid: number): number[] {
  const children = readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
    readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
      .split(' ')
      .filter(Boolean)
      .map(Number),
  );
  return [pid, ...children.flatMap(processTree)];
}

function peakRssMiB(pids: number[]): number {
  return (
    pids
      .map((pid) =>
        Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0),
      )
      .reduce((a, b) => a + b, 0) / 1024
  );
}

/** The agent with its output counted, not parsed: the reader must not be the bottleneck. */
async function startAgent(lab: Lab) {
  const child = spawn(RSTSCOPE_BIN, ['agent', '--json', '--netns', lab.server.ns], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let lines = 0;
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
  });
  child.stderr.on('data', (t: Buffer) => (stderr += t.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', () => stderr.includes('capturing resets') && resolve());
    child.once('exit', (code) => reject(new Error(`agent exited with ${code}: ${stderr}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid!,
    lines: () => lines,
    async stop(): Promise<{ lost: number }> {
      child.kill('SIGINT');
      await exited;
      const line = stderr.split('\n').find((l) => l.startsWith('{"counters"'))!;
      return (JSON.parse(line) as { counters: { lost: number } }).counters;
    },
  };
}

async function oneRun(lab: Lab, interval: number): Promise<Sample> {
  const agent = await startAgent(lab);
  const pids = processTree(agent.pid);
  const cpuBefore = cpuSeconds(pids);
  const rstBefore = tcpOutRsts(lab);
  const args =
    interval === 0
      ? [
          'timeout',
          String(SECONDS),
          'hping3',
          '-q',
          '-S',
          '-p',
          String(CLOSED_PORT),
          '--flood',
          lab.server.ipv4,
        ]
      : [
          'hping3',
          '-q',
          '-S',
          '-p',
          String(CLOSED_PORT),
          '-i',
          `u${interval}`,
          '-c',
          String(Math.round((SECONDS * 1e6) / interval)),
          lab.server.ipv4,
        ];
  // Asynchronously: this process must keep reading the agent's output meanwhile.
  await new Promise((resolve) =>
    lab.spawn(lab.client, args, { stdio: 'ignore' }).once('exit', resolve),
  );
  await new Promise((r) => setTimeout(r, 1000)); // let the agent drain
  const cpuS = cpuSeconds(pids) - cpuBefore;
  const rssMiB = peakRssMiB(pids);
  const emitted = tcpOutRsts(lab) - rstBefore;
  const counters = await agent.stop();
  return { emitted, decoded: agent.lines(), lost: counters.lost, cpuS, rssMiB };
}

async function main() {
  const lab = Lab.create();
  try {
    const hping = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'hping3'], {
      encoding: 'utf8',
    });
    console.log(
      `capture storm: kernel ${release()}, ${cpus().length} cores (${cpus()[0]?.model}), node ${process.version}, hping3 ${hping}`,
    );
    console.log(
      `${SECONDS} s per run, median of ${RUNS} runs; agent = rstscope agent --json --netns <server>\n`,
    );
    console.log(
      'rate    emitted/s  emitted  decoded  lost  accounted  agent CPU s  CPU/1k ev  peak RSS MiB',
    );
    for (const [label, interval] of RATES) {
      const samples: Sample[] = [];
      for (let i = 0; i < RUNS; i++) samples.push(await oneRun(lab, interval));
      const m = (k: keyof Sample) => median(samples.map((s) => s[k]));
      const emitted = m('emitted');
      const accounted = samples.every((s) => s.decoded + s.lost === s.emitted) ? 'all' : 'NOT ALL';
      console.log(
        `${label.padEnd(7)} ${String(Math.round(emitted / SECONDS)).padStart(9)}  ${String(emitted).padStart(7)}  ` +
          `${String(m('decoded')).padStart(7)}  ${String(m('lost')).padStart(4)}  ${accounted.padStart(9)}  ` +
          `${m('cpuS').toFixed(2).padStart(11)}  ${((m('cpuS') / Math.max(m('decoded'), 1)) * 1000).toFixed(3).padStart(9)}  ` +
          `${m('rssMiB').toFixed(1).padStart(12)}`,
      );
    }
  } finally {
    lab.destroy();
  }
}

await main();
