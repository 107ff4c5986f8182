// Capture under a closed-port SYN storm: the lab client floods the server's
// closed port with SYNs (hping3), the server's kernel answers each with a
// NO_SOCKET reset; the storm is paced to the rate (bench/paced-storm.ts: hping3's
// own -i falls short here), or a flood for `max`. At each rate, in the same run and on storms of the same
// rate one after the other, four captures take the server's resets:
//   rstscope-nats  the agent as in production, publishing to a real nats-server
//   rstscope-json  the agent printing one JSON line per event (reference)
//   bpftrace       the same two tracepoints, one printf line per event to a file
//   tcpdump        an RST filter on the server's interface, writing a pcap
// Per rate and capture, the median of the runs: resets the kernel emitted
// (TcpOutRsts), events captured, aggregated (rstscope's storm records), counted
// as dropped by the tool, lost (emitted − captured − aggregated), CPU seconds of
// the tool's processes (storm + 1 s drain), CPU per 1k events, peak RSS; then
// rstscope-nats / peer for CPU per 1k events. The last line is the same as JSON
// ({"bench":"capture",...}) for bench/all.ts.
//
//   node dist/bench/capture-storm.js [--seconds 5] [--runs 3] [--rates 1k,10k,20k,max]
//                                    [--tools rstscope-nats,rstscope-json,bpftrace,tcpdump]
import { parseArgs } from 'node:util';
import { Lab } from '../test/lab/lab.js';
import { NatsServer } from '../test/lab/nats-server.js';
import { median } from './median.js';
import { pacedSynStorm, tcpOutRsts } from './paced-storm.js';
import { bpftraceCapturer } from './peers/bpftrace-capturer.js';
import type { Capturer } from './peers/capturer.js';
import { rstscopeCapturer } from './peers/rstscope-capturer.js';
import { tcpdumpCapturer } from './peers/tcpdump-capturer.js';
import { cpuSeconds, peakRssMiB, processTree } from './proc-stats.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    rates: { type: 'string', default: '1k,10k,20k,max' },
    tools: { type: 'string', default: 'rstscope-nats,rstscope-json,bpftrace,tcpdump' },
  },
});
const SECONDS = Number(values.seconds);
const RUNS = Number(values.runs);
const CLOSED_PORT = 9;
const DRAIN_MS = 1000;

/** Resets per second per named rate; 0 = hping3 --flood, as fast as it goes. */
const RATE_PER_S: Record<string, number> = { '1k': 1_000, '10k': 10_000, '20k': 20_000, max: 0 };
const RATES = values.rates.split(',').map((rate) => {
  const perSecond = RATE_PER_S[rate];
  if (perSecond === undefined) throw new Error(`--rates: ${rate} is not one of 1k, 10k, 20k, max`);
  return { rate, perSecond };
});
const TOOLS = values.tools.split(',');
for (const t of TOOLS) {
  if (!['rstscope-nats', 'rstscope-json', 'bpftrace', 'tcpdump'].includes(t)) {
    throw new Error(`--tools: ${t} is not one of rstscope-nats, rstscope-json, bpftrace, tcpdump`);
  }
}

export interface CaptureSample {
  emitted: number;
  captured: number;
  aggregated: number;
  dropped: number;
  lost: number;
  cpuS: number;
  rssMiB: number;
  /** nats-server's CPU seconds (rstscope-nats only): the broker's share, not the agent's. */
  natsCpuS: number;
  /** How long the storm ran (a paced storm ends a little after its seconds). */
  stormS: number;
  /** The tool's own account of the run, printed when it does not add up. */
  note?: string | undefined;
}

/**
 * The storm: paced to the rate (hping3's own -i falls short of it on this VM:
 * bench/paced-storm.ts), or a flood for `max`. Returns how long it ran, which
 * emitted/s and cores are computed over.
 */
async function storm(lab: Lab, perSecond: number): Promise<number> {
  if (perSecond > 0) {
    const paced = await pacedSynStorm(lab, {
      rate: perSecond,
      seconds: SECONDS,
      port: CLOSED_PORT,
    });
    return paced.elapsedMs / 1000;
  }
  const started = performance.now();
  const flood = ['timeout', String(SECONDS), 'hping3', '-q', '-S', '-p', String(CLOSED_PORT)];
  // Asynchronously: this process keeps reading the agent's output meanwhile.
  await new Promise((resolve) =>
    lab
      .spawn(lab.client, [...flood, '--flood', lab.server.ipv4], { stdio: 'ignore' })
      .once('exit', resolve),
  );
  return (performance.now() - started) / 1000;
}

async function oneRun(lab: Lab, tool: string, perSecond: number): Promise<CaptureSample> {
  const nats = tool === 'rstscope-nats' ? await NatsServer.start() : undefined;
  try {
    const capturer: Capturer =
      tool === 'rstscope-nats'
        ? rstscopeCapturer({ nats: nats!.url })
        : tool === 'rstscope-json'
          ? rstscopeCapturer('json')
          : tool === 'bpftrace'
            ? bpftraceCapturer
            : tcpdumpCapturer;
    const running = await capturer.start(lab);
    let pids = processTree(running.pid);
    const cpu0 = cpuSeconds(pids);
    const nats0 = nats ? cpuSeconds([nats.pid]) : 0;
    const rst0 = tcpOutRsts(lab);
    const stormS = await storm(lab, perSecond);
    await new Promise((r) => setTimeout(r, DRAIN_MS));
    pids = [...new Set([...pids, ...processTree(running.pid)])];
    const cpuS = cpuSeconds(pids) - cpu0;
    const rssMiB = peakRssMiB(pids);
    const natsCpuS = nats ? cpuSeconds([nats.pid]) - nats0 : 0;
    const emitted = tcpOutRsts(lab) - rst0;
    const c = await running.stop();
    const lost = emitted - c.captured - c.aggregated;
    return { emitted, ...c, lost, cpuS, rssMiB, natsCpuS, stormS };
  } finally {
    await nats?.stop();
  }
}

export interface CaptureRow extends Omit<CaptureSample, 'note'> {
  rate: string;
  tool: string;
  cpuPer1k: number;
  emittedPerS: number;
  cores: number;
  /** Every run: captured + aggregated + counted-dropped = emitted. */
  accounted: boolean;
}

function summarize(rate: string, tool: string, samples: CaptureSample[]): CaptureRow {
  const m = (k: Exclude<keyof CaptureSample, 'note'>) => median(samples.map((s) => s[k]));
  const cpuS = m('cpuS');
  const events = m('captured') + m('aggregated');
  return {
    rate,
    tool,
    emitted: m('emitted'),
    captured: m('captured'),
    aggregated: m('aggregated'),
    dropped: m('dropped'),
    lost: m('lost'),
    cpuS,
    cpuPer1k: (cpuS / Math.max(events, 1)) * 1000,
    stormS: m('stormS'),
    emittedPerS: m('emitted') / m('stormS'),
    cores: cpuS / (m('stormS') + DRAIN_MS / 1000),
    rssMiB: m('rssMiB'),
    natsCpuS: m('natsCpuS'),
    accounted: samples.every((s) => s.captured + s.aggregated + s.dropped === s.emitted),
  };
}

const COLUMNS =
  'rate  tool            emitted/s  emitted  captured  aggregated  dropped  lost    accounted  CPU s   cores  CPU s/1k  RSS MiB';

function rowLine(r: CaptureRow): string {
  return [
    r.rate.padEnd(5),
    r.tool.padEnd(14),
    String(Math.round(r.emittedPerS)).padStart(9),
    String(r.emitted).padStart(8),
    String(r.captured).padStart(9),
    String(r.aggregated).padStart(11),
    String(r.dropped).padStart(8),
    String(r.lost).padStart(7),
    (r.accounted ? 'yes' : 'NO').padStart(10),
    r.cpuS.toFixed(2).padStart(6),
    r.cores.toFixed(2).padStart(6),
    r.cpuPer1k.toFixed(3).padStart(9),
    r.rssMiB.toFixed(0).padStart(8),
  ].join(' ');
}

async function main() {
  const lab = Lab.create();
  const rows: CaptureRow[] = [];
  const unaccounted: string[] = [];
  try {
    console.log(
      `capture storm: ${SECONDS} s per storm + ${DRAIN_MS / 1000} s drain, median of ${RUNS} runs; ` +
        `each run takes one storm per capture, in turn`,
    );
    console.log(`  rstscope-nats  ${rstscopeCapturer({ nats: '<url>' }).command}`);
    console.log(`  rstscope-json  ${rstscopeCapturer('json').command}`);
    console.log(`  bpftrace       ${bpftraceCapturer.command}`);
    console.log(`  tcpdump        ${tcpdumpCapturer.command}\n`);
    console.log(COLUMNS);
    for (const { rate, perSecond } of RATES) {
      const samples = new Map<string, CaptureSample[]>(TOOLS.map((t) => [t, []]));
      for (let i = 0; i < RUNS; i++) {
        for (const tool of TOOLS) samples.get(tool)!.push(await oneRun(lab, tool, perSecond));
      }
      for (const tool of TOOLS) {
        const row = summarize(rate, tool, samples.get(tool)!);
        rows.push(row);
        console.log(rowLine(row));
        for (const s of samples.get(tool)!) {
          if (s.captured + s.aggregated + s.dropped !== s.emitted) {
            unaccounted.push(`${rate} ${tool}: emitted ${s.emitted}, ${s.note ?? ''}`);
          }
        }
      }
    }
  } finally {
    lab.destroy();
  }
  if (unaccounted.length) console.log(`\nruns that do not add up:\n  ${unaccounted.join('\n  ')}`);
  const ours = (rate: string) => rows.find((r) => r.rate === rate && r.tool === 'rstscope-nats');
  const ratios = rows
    .filter((r) => !r.tool.startsWith('rstscope') && ours(r.rate))
    // Under /proc's 10 ms tick a peer may show no CPU at all: no ratio then.
    .map((r) => ({
      rate: r.rate,
      peer: r.tool,
      ratio: r.cpuS > 0 ? ours(r.rate)!.cpuPer1k / r.cpuPer1k : null,
    }));
  if (ratios.length) {
    console.log('\nCPU per 1k events, rstscope-nats / peer (< 1: rstscope costs less):');
    for (const r of ratios) {
      const ratio = r.ratio === null ? 'n/a (peer used < 10 ms)' : r.ratio.toFixed(2);
      console.log(`  ${r.rate.padEnd(5)} ${r.peer.padEnd(9)} ${ratio}`);
    }
  }
  const nats = rows.filter((r) => r.tool === 'rstscope-nats');
  if (nats.length) {
    console.log(
      `nats-server CPU s (not in the agent's): ${nats.map((r) => `${r.rate} ${r.natsCpuS.toFixed(2)}`).join(', ')}`,
    );
  }
  console.log(JSON.stringify({ bench: 'capture', seconds: SECONDS, runs: RUNS, rows, ratios }));
}

await main();
