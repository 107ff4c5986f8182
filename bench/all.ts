// The one benchmark command: capture (with bpftrace and tcpdump side by side),
// data-path cost, pipeline, queries and a sustained storm end to end, each the median of --runs, in one table
// with the design's targets, headed by the conditions it ran under. Each part is
// its own bench in dist/bench/, run as a child process (its output goes to
// stderr as it runs, so a long run shows progress) and read when it ends.
//
//   node dist/bench/all.js [--runs 3] [--quick] [--only capture,datapath,pipeline,queries,sustained]
//
// --quick: a smoke check (short storms and loads, one run, 100k stored resets, a
// 10 s sustained storm);
// its figures are not the medians the README quotes.
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  captureFigures,
  datapathFigures,
  pipelineFigures,
  queryFigures,
  sustainedFigures,
} from './bench-figures.js';
import { conditions } from './conditions.js';
import { figureTable } from './figures.js';
import type { Figure } from './figures.js';

const PARTS = ['capture', 'datapath', 'pipeline', 'queries', 'sustained'] as const;
type Part = (typeof PARTS)[number];

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string', default: PARTS.join(',') },
  },
});

function usage(message: string): never {
  process.stderr.write(
    `rstscope bench: ${message}\nusage: node dist/bench/all.js [--runs N] [--quick] [--only ${PARTS.join(',')}]\n`,
  );
  process.exit(2);
}

const quick = values.quick;
const runs = quick ? 1 : Number(values.runs);
if (!Number.isInteger(runs) || runs < 1)
  usage(`--runs must be a whole number ≥ 1, not ${values.runs}`);
if (!quick && runs < 3)
  process.stderr.write('note: fewer than 3 runs; the README quotes medians of 3\n');
const only = values.only.split(',') as Part[];
for (const p of only)
  if (!PARTS.includes(p)) usage(`--only: ${p} is not one of ${PARTS.join(', ')}`);

const EVENTS = quick ? 20_000 : 200_000;
const RESETS = quick ? 100_000 : 10_000_000;
const r = String(runs);

/** Per part: its script, its arguments, and how to read its output. */
const BENCHES: Record<Part, { script: string; args: string[]; read: (out: string) => Figure[] }> = {
  capture: {
    script: 'capture-storm.js',
    args: ['--seconds', quick ? '2' : '5', '--runs', r],
    read: captureFigures,
  },
  datapath: {
    script: 'datapath-cost.js',
    // Its per-program pass (bpf_stats) is worth a full run, not a smoke check.
    args: [
      '--seconds',
      quick ? '2' : '5',
      '--runs',
      r,
      '--json',
      ...(quick ? ['--skip-program-stats'] : []),
    ],
    read: datapathFigures,
  },
  pipeline: {
    script: 'pipeline.js',
    args: ['--events', String(EVENTS), '--runs', r, '--seconds', quick ? '5' : '30'],
    read: (out) => pipelineFigures(out, EVENTS),
  },
  queries: {
    script: 'diagnosis-views.js',
    args: ['--resets', String(RESETS), '--runs', r],
    read: (out) => queryFigures(out, RESETS),
  },
  sustained: {
    // The design's bar: 20k resets/s for 60 s, every one stored.
    script: 'sustained.js',
    args: ['--rate', '20000', '--seconds', quick ? '10' : '60', '--runs', r, '--json'],
    read: sustainedFigures,
  },
};

/** Runs one bench; its stdout is kept and echoed to our stderr, its stderr passed on. */
function runBench(script: string, args: string[]): Promise<{ code: number | null; out: string }> {
  const path = join(dirname(fileURLToPath(import.meta.url)), script);
  process.stderr.write(`\n== node ${join('dist/bench', script)} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      process.stderr.write(b);
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
  });
}

async function main(): Promise<void> {
  const head = conditions();
  const started = Date.now();
  const figures: Figure[] = [];
  for (const part of only) {
    const bench = BENCHES[part];
    const { code, out } = await runBench(bench.script, bench.args);
    let read: Figure[];
    try {
      read = bench.read(out);
    } catch (err) {
      read = [{ figure: part, measured: null, unit: '', note: (err as Error).message }];
    }
    // A bench that failed keeps what it printed before, marked.
    if (code !== 0) {
      read = read.map((f) =>
        f.measured === null ? { ...f, note: `${bench.script} exited with ${code}` } : f,
      );
    }
    figures.push(...read);
  }
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const mode = quick ? 'QUICK smoke check, 1 run, short loads' : `median of ${runs} runs`;
  console.log(`\nrstscope benchmark — ${mode}, ${minutes} min`);
  for (const line of head) console.log(line);
  // Other work on the machine moves these figures: say how busy it was.
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at the end`,
  );
  console.log(`\n${figureTable(figures)}`);
  const missed = figures.filter((f) => f.measured === null).length;
  if (missed) process.exitCode = 1;
}

await main();
