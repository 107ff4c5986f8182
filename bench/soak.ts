// The soak: the sustained bench's pipeline (the production agent on the lab
// server → nats-server → collector on embedded chDB, a paced closed-port SYN
// storm) held for half an hour at a modest rate, to show what a short run cannot:
// that memory stays flat and nothing is lost over time. Every 10 s it samples the
// resident memory and CPU of the agent (its Node process and its loader), the
// collector and nats-server; it prints a row a minute with the rows stored and the
// backlog, a flatness verdict per process, and at the end the sustained run's
// counts of the same resets: kernel = agent = rows stored = last heartbeat.
// Exits 1 on any loss. Run on purpose and alone: not part of bench/all.ts.
//
//   node dist/bench/soak.js [--minutes 30] [--rate 1000] [--sample-s 10] [--json]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Lab } from '../test/lab/lab.js';
import { conditions } from './conditions.js';
import type { CurveRow, Flatness } from './soak-curve.js';
import { FLAT_MIB_PER_H, MIN_JUDGED_S, flatness, minuteRows, warmUpS } from './soak-curve.js';
import { samplePipeline } from './soak-processes.js';
import type { ProcessSample } from './soak-processes.js';
import { sustainedRun } from './sustained-run.js';
import type { BacklogPoint, SustainedSample } from './sustained-run.js';

const USAGE =
  'usage: node dist/bench/soak.js [--minutes N] [--rate N] [--sample-s N] [--json]  ' +
  '(defaults: 30 minutes, 1000 resets/s, a sample every 10 s)';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string', default: '1000' },
    'sample-s': { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});

function bad(flag: string, expected: string, text: string): never {
  process.stderr.write(`soak: ${flag} must be ${expected}, not ${text}\n${USAGE}\n`);
  process.exit(2);
}

const MINUTES = Number(values.minutes);
if (!(MINUTES >= 0.1 && MINUTES <= 24 * 60)) {
  bad('--minutes', 'a number of minutes from 0.1 to 1440', values.minutes);
}
const RATE = Number(values.rate);
if (!Number.isInteger(RATE) || RATE < 1) bad('--rate', 'a whole number ≥ 1', values.rate);
const SAMPLE_S = Number(values['sample-s']);
if (!(SAMPLE_S >= 1 && SAMPLE_S <= 60)) {
  bad('--sample-s', 'a number of seconds from 1 to 60', values['sample-s']);
}

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const clock = (s: number) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
const mib = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(1));
const cores = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(3));
const signed = (x: number | undefined) =>
  x === undefined ? '–' : `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)];
}

function curveLines(rows: CurveRow[]): string[] {
  return table(
    [
      'time',
      'agent MiB',
      'loader MiB',
      'collector MiB',
      'nats MiB',
      'agent cores',
      'collector cores',
      'nats cores',
      'rows stored',
      'lag',
    ],
    rows.map((r) => [
      clock(r.atS),
      mib(r.rssMiB.agent),
      mib(r.rssMiB.loader),
      mib(r.rssMiB.collector),
      mib(r.rssMiB.nats),
      cores(r.cores.agent),
      cores(r.cores.collector),
      cores(r.cores.nats),
      r.stored === undefined ? '–' : n(r.stored),
      r.lag === undefined ? '–' : n(r.lag),
    ]),
  );
}

function flatnessLines(f: Flatness[]): string[] {
  return f.map((x) =>
    x.verdict === 'not seen'
      ? `  ${x.role.padEnd(9)} not seen after warm-up`
      : `  ${x.role.padEnd(9)} ${mib(x.firstMiB)} → ${mib(x.lastMiB)} MiB, ` +
        `max − min ${mib(x.maxMiB! - x.minMiB!)} MiB (${mib(x.minMiB)} … ${mib(x.maxMiB)}); ` +
        `second half ${signed(x.slopeMiBPerH)} ± ${mib(x.slopeErrorMiBPerH)} MiB/h: ${x.verdict}`,
  );
}

/** Zero loss: every reset the kernel emitted is a row (or in a storm aggregate), once. */
function lossLines(s: SustainedSample): { lines: string[]; lossless: boolean } {
  const accounted = s.rows + s.aggregatedStored;
  const hb = s.heartbeat;
  const checks: [string, boolean][] = [
    [`lost (emitted − rows − aggregated) = ${n(s.lost)}`, s.lost === 0],
    [
      `kernel counters ${n(s.kernelSeen)} ${s.kernelSeen === accounted ? '=' : '≠'} stored ${n(accounted)}`,
      s.kernelSeen === accounted,
    ],
    [
      `rows ${n(s.rows)} ${s.rows === s.distinctRows ? '=' : '≠'} distinct events ${n(s.distinctRows)}`,
      s.rows === s.distinctRows,
    ],
    [
      `last heartbeat seen ${hb ? n(hb.seen) : 'none'} ${hb?.seen === s.kernelSeen ? '=' : '≠'} kernel counters`,
      hb?.seen === s.kernelSeen,
    ],
  ];
  const lines = [
    `  the server's kernel emitted ${n(s.emitted)} resets (${n(s.emitted / s.stormS)}/s; hping3 sent ${n(s.sent)} SYNs in ${s.stormS.toFixed(1)} s)`,
    `  agent: kernel counted ${n(s.kernelSeen)}, decoded ${n(s.decoded)}, aggregated ${n(s.aggregated)}, ` +
      `lost in the kernel ${n(s.lostInKernel)}, published ${n(s.published)}, dropped in the agent ${n(s.droppedInAgent)}`,
    `  store: ${n(s.rows)} rows, ${n(s.aggregatedStored)} resets in storm aggregates; collector: ` +
      `${n(s.collector.inserts)} inserts, ${n(s.collector.duplicateRows)} duplicates skipped, ` +
      `${n(s.collector.insertFailures)} failed inserts, ${n(s.deadLettered)} dead-lettered`,
    `  last reset → last row ${n(s.lastResetToLastRowMs)} ms; storm end → all emitted resets stored ` +
      (s.caughtUpMs === null ? 'never' : `${n(s.caughtUpMs)} ms`),
    ...checks.map(([text, ok]) => `  ${ok ? 'ok ' : 'NOT'} ${text}`),
  ];
  return { lines, lossless: checks.every(([, ok]) => ok) };
}

async function main(): Promise<void> {
  console.log(
    `soak: ${n(RATE)} resets/s for ${MINUTES} min; rstscope agent --netns <server> --nats <url> --host soak ` +
      `→ nats-server → collector → chDB; RSS and CPU every ${SAMPLE_S} s`,
  );
  for (const line of conditions()) console.log(line);
  const lab = Lab.create();
  const sampler = samplePipeline(SAMPLE_S * 1000);
  let run: SustainedSample;
  let samples: ProcessSample[];
  try {
    run = await sustainedRun(lab, { rate: RATE, seconds: Math.round(MINUTES * 60), host: 'soak' });
  } finally {
    samples = await sampler.stop();
    lab.destroy();
  }
  // After the storm the agent is stopped and the store counted: not the soak's load.
  const during = samples.filter((s) => s.atS <= run.stormS + 1);
  const rows = minuteRows(during, run.backlog, run.stormS);
  console.log(
    `\ncurve (RSS now, MiB; cores since the row before, the agent with its loader; ` +
      `lag = resets emitted and not yet stored, at the last count, every 5 s):`,
  );
  for (const line of curveLines(rows)) console.log(`  ${line}`);
  // The rows show the lag at each minute; its worst moment may fall between them.
  const worst = run.backlog
    .filter((b) => b.stored >= 0)
    .reduce<BacklogPoint | undefined>(
      (w, b) => (!w || b.emitted - b.stored > w.emitted - w.stored ? b : w),
      undefined,
    );
  if (worst) {
    console.log(
      `  largest lag of ${run.backlog.length} counts: ${n(worst.emitted - worst.stored)} resets at ` +
        `${clock(worst.atS)} (≈ ${((worst.emitted - worst.stored) / RATE).toFixed(1)} s at the rate); ` +
        `slowest count answered in ${n(Math.max(...run.backlog.map((b) => b.queryMs)))} ms`,
    );
  }

  const flat = flatness(during, run.stormS);
  console.log(
    `\nmemory after warm-up (the first ${clock(warmUpS(run.stormS))} left out); slope over the ` +
      `second half ± 2 standard errors, flat when all of it is ≤ ${FLAT_MIB_PER_H} MiB/h:`,
  );
  for (const line of flatnessLines(flat)) console.log(line);
  const named = (verdict: Flatness['verdict']) =>
    flat
      .filter((f) => f.verdict === verdict)
      .map((f) => f.role)
      .join(', ');
  const memory =
    run.stormS < MIN_JUDGED_S
      ? `not judged (a run under ${MIN_JUDGED_S / 60} min is too short)`
      : flat.every((f) => f.verdict === 'flat')
        ? 'flat'
        : flat.some((f) => f.verdict === 'grows')
          ? `GROWS (${named('grows')})`
          : `flat (${named('flat')}); unclear, its swings too wide for the run (${named('unclear')})` +
            (named('not seen') ? `; NOT SEEN (${named('not seen')})` : '');

  const loss = lossLines(run);
  console.log('\nloss, end to end:');
  for (const line of loss.lines) console.log(line);
  console.log(`\nverdict: memory ${memory}; zero loss: ${loss.lossless ? 'met' : 'MISSED'}`);
  console.log(`load average ${load()} (1, 5, 15 min) at the end`);
  if (values.json) {
    console.log(
      JSON.stringify({ bench: 'soak', rate: RATE, minutes: MINUTES, samples: during, flat, run }),
    );
  }
  if (!loss.lossless) process.exitCode = 1;
}

await main();
