#!/usr/bin/env node
// The fuzz run: the property suites (test/props-*.test.ts) with a fresh seed and
// as many runs as fit in the time given, one file after another, each property
// with an equal share of its file's time. Prints what ran and every counterexample.
//
//   node scripts/fuzz.mjs --seconds 600 [--seed N] [--only decoder]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = join(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '300' },
    seed: { type: 'string' },
    only: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
if (!(seconds >= 4)) {
  console.error(`fuzz: --seconds ${values.seconds}: expected 4 or more`);
  process.exit(2);
}
const seed = values.seed === undefined ? (Math.random() * 2 ** 31) | 0 : Number(values.seed) | 0;
const files = readdirSync(join(root, 'test'))
  .filter((f) => /^props-.*\.test\.ts$/.test(f))
  .filter((f) => values.only === undefined || f.includes(values.only))
  .sort();
if (!files.length) {
  console.error(`fuzz: no test/props-*.test.ts matches --only ${values.only}`);
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'rstscope-fuzz-'));
const report = join(dir, 'report.jsonl');
// Each file starts a vitest (and some a chDB): a few seconds each that the properties do not get.
const fileMs = Math.floor((seconds * 1000) / files.length) - 3_000;
console.log(
  `fuzz: ${files.length} files, ${Math.round(fileMs / 1000)} s of properties each, seed ${seed}`,
);

let failedFiles = 0;
for (const file of files) {
  const run = spawnSync('npx', ['vitest', 'run', join('test', file)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    env: {
      ...process.env,
      RSTSCOPE_FUZZ_FILE_MS: String(Math.max(1_000, fileMs)),
      RSTSCOPE_FUZZ_SEED: String(seed),
      RSTSCOPE_FUZZ_REPORT: report,
    },
  });
  if (run.status !== 0) {
    failedFiles += 1;
    console.log(`\n${file}: vitest exited with ${run.status ?? run.signal}`);
    console.log(`${run.stdout}${run.stderr}`.split('\n').slice(-60).join('\n'));
  }
}

let outcomes = [];
try {
  outcomes = readFileSync(report, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
} catch {
  // No property reported: every file failed before its first one ran.
}
rmSync(dir, { recursive: true, force: true });
let failed = 0;
for (const o of outcomes) {
  console.log(
    `${o.failed ? 'FAIL' : 'ok  '} ${String(o.runs).padStart(9)} runs  ${o.suite} › ${o.property}`,
  );
  if (o.failed) {
    failed += 1;
    console.log(`       seed ${o.seed}; counterexample: ${o.counterexample}`);
  }
}
const runs = outcomes.reduce((sum, o) => sum + o.runs, 0);
console.log(
  `fuzz: ${outcomes.length} properties, ${runs} runs, ${failed} with a counterexample` +
    ` (known bugs are expected to fail), seed ${seed}`,
);
process.exitCode = failedFiles ? 1 : 0;
