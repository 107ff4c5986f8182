// The soak bench, run for half a minute: the real pipeline (production agent on the
// lab server, nats-server, collector on chDB) under a paced storm. It must print its
// curve and lose nothing; no timing or memory figure is asserted (a loaded machine
// moves them). Needs root (namespaces, BPF) and hping3; about a minute. The flatness
// rule is checked apart, on samples made to grow or not.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../agent/repo-root.js';
import { FLAT_MIB_PER_H, flatness, minuteRows, slope } from '../bench/soak-curve.js';
import { roleOf } from '../bench/soak-processes.js';
import type { ProcessSample } from '../bench/soak-processes.js';

const run = promisify(execFile);

describe('node dist/bench/soak.js', () => {
  it(
    'runs the pipeline for half a minute, prints the curve and loses nothing',
    { timeout: 240_000 },
    async () => {
      // execFile rejects on a non-zero exit, which the soak gives on any loss.
      const { stdout } = await run(
        process.execPath,
        [join(repoRoot(), 'dist', 'bench', 'soak.js'), '--minutes', '0.5', '--rate', '1000'],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      expect(stdout).toMatch(/^kernel \S+, \d+ cores \(.+\), [\d.]+ GiB memory$/m);
      const lines = stdout.split('\n');
      const head = lines.findIndex((l) => /^ {2}time {2}agent MiB {2}loader MiB/.test(l));
      expect(head, stdout).toBeGreaterThan(0);
      const rows = lines.slice(head + 1).filter((l) => /^ {2}\d+:\d\d /.test(l));
      // 0:00 and the end: every process has a memory figure on every row.
      expect(rows.length, stdout).toBeGreaterThanOrEqual(2);
      for (const row of rows) {
        const cells = row.trim().split(/\s+/);
        expect(cells.slice(1, 5), row).toEqual(
          cells.slice(1, 5).map(() => expect.stringMatching(/^\d+\.\d$/)),
        );
      }
      // The last row counts rows stored, and CPU since the row before.
      const last = rows.at(-1)!.trim().split(/\s+/);
      expect(last.slice(5, 8), rows.at(-1)).toEqual([
        expect.stringMatching(/^\d+\.\d{3}$/),
        expect.stringMatching(/^\d+\.\d{3}$/),
        expect.stringMatching(/^\d+\.\d{3}$/),
      ]);
      expect(Number(last[8]!.replace(/,/g, '')), rows.at(-1)).toBeGreaterThan(0);
      for (const role of ['agent', 'loader', 'collector', 'nats']) {
        expect(stdout).toMatch(new RegExp(`^ {2}${role} +[\\d.]+ → [\\d.]+ MiB, max − min`, 'm'));
      }
      expect(stdout).toMatch(/^ {2}ok {2}lost \(emitted − rows − aggregated\) = 0$/m);
      expect(stdout).toMatch(/^ {2}ok {2}kernel counters ([\d,]+) = stored \1$/m);
      expect(stdout).toMatch(/^ {2}ok {2}last heartbeat seen ([\d,]+) = kernel counters$/m);
      expect(stdout).toMatch(/^verdict: memory not judged \(.+\); zero loss: met$/m);
    },
  );
});

/** A sample a `everyS` for `seconds`, RSS from `mib(t)`, one CPU second a minute. */
function samples(seconds: number, everyS: number, mib: (t: number) => number): ProcessSample[] {
  const out: ProcessSample[] = [];
  for (let t = 0; t <= seconds; t += everyS) {
    const m = mib(t);
    const cpu = t / 60;
    out.push({
      atS: t,
      rssMiB: { agent: m, loader: 25, collector: 300 + m, nats: 40 },
      cpuS: { agent: cpu, loader: cpu, collector: cpu, nats: cpu },
    });
  }
  return out;
}

describe('the soak curve', () => {
  it('knows the pipeline by its command lines', () => {
    const main = '/repo/dist/cli/main.js';
    expect(roleOf(['node', '--disable-warning=DEP0123', main, 'agent', '--nats', 'x'])).toBe(
      'agent',
    );
    expect(roleOf(['node', main, 'collector', '--nats', 'x'])).toBe('collector');
    expect(roleOf(['/repo/build/rstscope-loader', '--fd', '3'])).toBe('loader');
    expect(roleOf(['nats-server', '-js'])).toBe('nats');
    expect(roleOf(['timeout', '-k', '1', '-s', 'INT', '2', 'hping3', '-S'])).toBe('storm');
    expect(roleOf(['node', main, 'sql', 'agent'])).toBeUndefined();
    expect(roleOf([])).toBeUndefined();
  });

  it('has a row a minute and one at the end, with the count before each', () => {
    const s = samples(150, 10, () => 80);
    const backlog = [
      { atS: 55, emitted: 55_000, stored: 54_000, queryMs: 3 },
      { atS: 60, emitted: 60_000, stored: 59_500, queryMs: 3 },
      { atS: 150, emitted: 150_000, stored: 150_000, queryMs: 3 },
    ];
    const rows = minuteRows(s, backlog, 150);
    expect(rows.map((r) => r.atS)).toEqual([0, 60, 120, 150]);
    expect(rows.map((r) => r.lag)).toEqual([undefined, 500, 500, 0]);
    expect(rows[1]!.cores).toEqual({ agent: 2 / 60, collector: 1 / 60, nats: 1 / 60 });
  });

  it('reads a leak as growth, a sawtooth as flat, and wide swings as unclear', () => {
    expect(
      slope([
        { x: 0, y: 1 },
        { x: 1, y: 3 },
        { x: 2, y: 5 },
      ]),
    ).toEqual({ slope: 2, error: 0 });
    const minutes = 30 * 60;
    // 10 bytes a reset at 1k resets/s: 34 MiB an hour, under a 6 MiB sawtooth.
    const leak = flatness(
      samples(minutes, 10, (t) => 80 + (t * 10_000) / 2 ** 20 + (t % 90) / 15),
      minutes,
    );
    expect(leak.find((f) => f.role === 'agent')!.verdict).toBe('grows');
    expect(leak.find((f) => f.role === 'agent')!.slopeMiBPerH).toBeGreaterThan(FLAT_MIB_PER_H);
    const sawtooth = flatness(
      samples(minutes, 10, (t) => 80 + (t % 90) / 15),
      minutes,
    );
    expect(sawtooth.map((f) => f.verdict)).toEqual(['flat', 'flat', 'flat', 'flat']);
    // As chDB's allocations make the collector's RSS: up to 400 MiB apart, no trend.
    const swings = flatness(
      samples(minutes, 10, (t) => 80 + (400 * ((t * 7919) % 97)) / 97),
      minutes,
    );
    expect(swings.map((f) => f.verdict)).toEqual(['unclear', 'flat', 'unclear', 'flat']);
    expect(
      flatness(
        samples(60, 10, () => 80),
        60,
      )[0]!.verdict,
    ).toBe('too short');
  });
});
