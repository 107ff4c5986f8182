// What the agent's extra tracepoints cost the data path: tcp_probe (every
// segment an established socket receives), netif_receive_skb (every packet),
// sock_{send,recv}_length and softirq_entry/exit. A bulk iperf3 transfer
// from the lab client to the server, without and with the agent loaded.
//
//   node dist/bench/datapath-cost.js [--seconds 5] [--runs 3]
import { execFileSync } from 'node:child_process';
import { cpus, release } from 'node:os';
import { parseArgs } from 'node:util';
import { AgentRunner } from '../test/lab/agent-runner.js';
import { Lab } from '../test/lab/lab.js';
import { median } from './median.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, runs: { type: 'string', default: '3' } },
});
const SECONDS = Number(values.seconds);
const RUNS = Number(values.runs);

function iperf(lab: Lab): number {
  const out = lab.exec(lab.client, ['iperf3', '-J', '-t', String(SECONDS), '-c', lab.server.ipv4]);
  const result = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
  return result.end.sum_received.bits_per_second / 1e9;
}

async function main() {
  const lab = Lab.create();
  try {
    const version = execFileSync('iperf3', ['--version'], { encoding: 'utf8' }).split('\n')[0];
    console.log(`data-path cost: kernel ${release()}, ${cpus().length} cores, ${version}`);
    console.log(
      `iperf3 client -> server through the lab router, ${SECONDS} s, median of ${RUNS}\n`,
    );
    const server = lab.spawn(lab.server, ['iperf3', '-s']);
    await new Promise((r) => setTimeout(r, 500));
    const without: number[] = [];
    const withAgent: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      without.push(iperf(lab));
      // The agent watches every namespace, as on a real host.
      const agent = await AgentRunner.start([]);
      withAgent.push(iperf(lab));
      await agent.stop();
    }
    const a = median(without);
    const b = median(withAgent);
    console.log(`without agent  ${a.toFixed(2)} Gbit/s`);
    console.log(`with agent     ${b.toFixed(2)} Gbit/s`);
    console.log(`difference     ${(((b - a) / a) * 100).toFixed(1)} %`);
    server.kill();
  } finally {
    lab.destroy();
  }
}

await main();
