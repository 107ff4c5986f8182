// Zero events lost end to end at a sustained reset rate (the design's bar: 20k
// resets/s for 60 s, kernel counters = rows stored). The lab client floods the
// server's closed port with SYNs at a fixed rate (bench/paced-storm.ts); the agent
// runs as in production on the server's namespace, publishing to a real
// nats-server; the collector stores into embedded chDB. After the storm: resets
// the kernel emitted (nstat), the agent's kernel counters and its own counts, rows
// stored for its host, resets stored in storm aggregates, and lost = emitted −
// rows − aggregated; the agent's CPU and peak RSS, the collector's CPU, and the
// time from the last reset to the last row. The median of --runs runs; loss is
// reported for every run, as one lossy run is not hidden by two clean ones.
//
//   node dist/bench/sustained.js [--rate 20000] [--seconds 60] [--runs 3] [--json]
import { parseArgs } from 'node:util';
import { Lab } from '../test/lab/lab.js';
import { conditions } from './conditions.js';
import { median } from './median.js';
import { sustainedRun } from './sustained-run.js';
import type { SustainedSample } from './sustained-run.js';

const USAGE = 'usage: node dist/bench/sustained.js [--rate N] [--seconds N] [--runs N] [--json]';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '60' },
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});

function positive(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`sustained: ${flag} must be a whole number ≥ 1, not ${text}\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

const RATE = positive('--rate', values.rate);
const SECONDS = positive('--seconds', values.seconds);
const RUNS = positive('--runs', values.runs);

function n(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

/** What one run shows, in lines under its heading. */
function report(s: SustainedSample): string[] {
  const hb = s.heartbeat;
  const lines = [
    `  storm: hping3 sent ${n(s.sent)} SYNs in ${s.stormS.toFixed(1)} s (${n(s.sent / s.stormS)}/s; ${s.streams} hping3 at -i u${Math.min(...s.intervalsUs)}…u${Math.max(...s.intervalsUs)}); ` +
      `the kernel emitted ${n(s.emitted)} resets (${n(s.emitted / s.stormS)}/s)`,
    `  agent: kernel counted ${n(s.kernelSeen)} (${s.kernel.map((k) => `${k.direction} ${k.reason} ${n(k.count)}`).join(', ') || 'none'}); ` +
      `decoded ${n(s.decoded)}, aggregated ${n(s.aggregated)}, lost in the kernel ${n(s.lostInKernel)}, ` +
      `published ${n(s.published)}, dropped in the agent ${n(s.droppedInAgent)}`,
    `  store: ${n(s.rows)} rows (${n(s.distinctRows)} distinct events; ` +
      `${s.storedByReason.map((r) => `${r.direction} ${r.reason} ${n(r.rows)}`).join(', ') || 'none'}), ` +
      `${n(s.aggregatedStored)} resets in storm aggregates; last heartbeat: ` +
      (hb
        ? `seen ${n(hb.seen)}, decoded ${n(hb.decoded)}, aggregated ${n(hb.aggregated)}, lost in the kernel ${n(hb.lostKernel)}`
        : 'none stored'),
    `  collector: ${n(s.collector.inserts)} inserts, ${n(s.collector.rows)} rows (heartbeats included), ` +
      `${n(s.collector.duplicateRows)} duplicates skipped, ${n(s.collector.insertFailures)} failed inserts, ` +
      `${n(s.deadLettered)} dead-lettered`,
    `  lost end to end (emitted − rows − aggregated): ${n(s.lost)}; kernel counters ${s.kernelSeen === s.rows ? '=' : '≠'} rows stored` +
      (s.aggregatedStored || s.aggregated
        ? '; SOME RESETS WERE AGGREGATED, not recorded one by one'
        : ''),
    `  agent ${s.agentCores.toFixed(3)} cores (${s.agentCpuS.toFixed(1)} CPU s over storm + 1 s), peak RSS ${s.agentRssMiB.toFixed(0)} MiB; ` +
      `collector ${s.collectorCores.toFixed(3)} cores; last reset → last row ${n(s.lastResetToLastRowMs)} ms; ` +
      `storm end → all emitted resets stored ${s.caughtUpMs === null ? 'never' : `${n(s.caughtUpMs)} ms`}`,
    `  backlog (emitted − stored; count's answer time) at ${s.backlog
      .map(
        (b) =>
          `${b.atS.toFixed(0)} s: ${b.stored < 0 ? 'no answer' : n(b.emitted - b.stored)} (${n(b.queryMs)} ms)`,
      )
      .join(', ')}`,
  ];
  return lines;
}

async function main(): Promise<void> {
  console.log(
    `sustained end to end: ${n(RATE)} resets/s for ${SECONDS} s, median of ${RUNS} runs; ` +
      'rstscope agent --netns <server> --nats <url> --host <name> → nats-server → collector → chDB',
  );
  for (const line of conditions()) console.log(line);
  const samples: SustainedSample[] = [];
  const lab = Lab.create();
  try {
    for (let run = 1; run <= RUNS; run++) {
      const sample = await sustainedRun(lab, {
        rate: RATE,
        seconds: SECONDS,
        host: `sustained-${run}`,
      });
      samples.push(sample);
      console.log(`run ${run}:`);
      for (const line of report(sample)) console.log(line);
    }
  } finally {
    lab.destroy();
  }
  const m = (pick: (s: SustainedSample) => number) => median(samples.map(pick));
  const worstLost = Math.max(...samples.map((s) => s.lost));
  const equal = samples.every((s) => s.kernelSeen === s.rows);
  const aggregated = Math.max(...samples.map((s) => Math.max(s.aggregated, s.aggregatedStored)));
  const summary = {
    rate: RATE,
    seconds: SECONDS,
    runs: RUNS,
    reachedPerS: m((s) => s.emitted / s.stormS),
    emitted: m((s) => s.emitted),
    kernelSeen: m((s) => s.kernelSeen),
    rows: m((s) => s.rows),
    aggregated,
    lost: m((s) => s.lost),
    worstLost,
    kernelEqualsRows: equal,
    agentCores: m((s) => s.agentCores),
    agentRssMiB: Math.max(...samples.map((s) => s.agentRssMiB)),
    collectorCores: m((s) => s.collectorCores),
    lastResetToLastRowMs: m((s) => s.lastResetToLastRowMs),
  };
  console.log(`\nmedian of ${RUNS}:`);
  console.log(
    `  reached ${n(summary.reachedPerS)} resets/s; emitted ${n(summary.emitted)}, kernel counted ${n(summary.kernelSeen)}, ` +
      `rows stored ${n(summary.rows)}, lost ${n(summary.lost)} (worst run ${n(worstLost)})`,
  );
  console.log(
    `  agent ${summary.agentCores.toFixed(3)} cores, peak RSS ${summary.agentRssMiB.toFixed(0)} MiB (highest run); ` +
      `collector ${summary.collectorCores.toFixed(3)} cores; last reset → last row ${n(summary.lastResetToLastRowMs)} ms`,
  );
  const verdict = equal && worstLost === 0 ? 'met' : 'MISSED';
  console.log(
    `verdict: kernel counters = rows stored: ${verdict} (${samples
      .map(
        (s, i) =>
          `run ${i + 1}: ${n(s.kernelSeen)} ${s.kernelSeen === s.rows ? '=' : '≠'} ${n(s.rows)}`,
      )
      .join('; ')}); ` +
      (aggregated
        ? `${n(aggregated)} resets aggregated instead of recorded (at most, per run)`
        : 'no reset aggregated instead of recorded'),
  );
  if (summary.reachedPerS < RATE * 0.95) {
    console.log(`note: the storm reached ${n(summary.reachedPerS)}/s, below ${n(RATE)}/s`);
  }
  if (values.json) console.log(JSON.stringify({ bench: 'sustained', ...summary, samples }));
}

await main();
