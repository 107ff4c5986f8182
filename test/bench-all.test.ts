// The one benchmark command runs and prints its table: conditions, then every
// capture row with a number. No timing is asserted: a loaded machine changes the
// figures, not whether they are there. Needs root (namespaces, BPF), bpftrace,
// tcpdump and hping3; about a minute and a half (16 short storms), and half a
// minute more for a 10 s sustained storm through NATS and the collector.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../agent/repo-root.js';

const run = promisify(execFile);

describe('node dist/bench/all.js --quick', () => {
  it(
    'prints the conditions and a number on every capture row (--only capture)',
    { timeout: 240_000 },
    async () => {
      const { stdout } = await run(
        process.execPath,
        [join(repoRoot(), 'dist', 'bench', 'all.js'), '--quick', '--only', 'capture'],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      expect(stdout).toMatch(/^kernel \S+, \d+ cores \(.+\), [\d.]+ GiB memory$/m);
      expect(stdout).toMatch(/^bpftrace \S+, tcpdump \S+, hping3 \S+, iperf3 \S+$/m);
      const rows = stdout
        .split('\n')
        .filter((l) => l.startsWith('| ') && !l.startsWith('| figure'));
      const figure = (start: string) => rows.filter((r) => r.startsWith(`| ${start}`));
      for (const rate of ['1k', '10k', '20k', 'max']) {
        expect(figure(`resets lost at ${rate} `)).toHaveLength(1);
        expect(figure(`CPU per 1k events at ${rate}, rstscope / `)).toHaveLength(2);
      }
      expect(figure('agent CPU at ')).toHaveLength(2);
      expect(figure('agent peak RSS')).toHaveLength(1);
      expect(figure('resets accounted at max')).toHaveLength(1);
      for (const r of rows) {
        const [, measured, , verdict] = r.split(' | ');
        expect(measured, r).toMatch(/^[\d,.]+( \S+)?$/);
        // No target (loss at max when every peer lost too): an empty verdict.
        expect(verdict, r).toMatch(/^(met|missed by .+|) \|$/);
      }
    },
  );

  it(
    'runs the sustained storm end to end and compares its counts (--only sustained)',
    { timeout: 180_000 },
    async () => {
      const { stdout, stderr } = await run(
        process.execPath,
        [join(repoRoot(), 'dist', 'bench', 'all.js'), '--quick', '--only', 'sustained'],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      // Each count of the same storm is printed: the kernel's, the agent's and the store's.
      expect(stderr).toMatch(/the kernel emitted [\d,]+ resets/);
      expect(stderr).toMatch(/^ {2}agent: kernel counted [\d,]+ \(sent NO_SOCKET [\d,]+\)/m);
      expect(stderr).toMatch(/^ {2}store: [\d,]+ rows/m);
      expect(stderr).toMatch(/^verdict: kernel counters = rows stored: (met|MISSED) /m);
      const rows = stdout
        .split('\n')
        .filter((l) => l.startsWith('| ') && !l.startsWith('| figure'));
      expect(rows.map((r) => r.split(' | ')[0])).toEqual([
        expect.stringMatching(/^\| resets lost end to end at 20k\/s for 10 s /),
        expect.stringMatching(/^\| resets aggregated instead of stored one by one at 20k\/s/),
        expect.stringMatching(/^\| agent CPU at 20k\/s/),
        expect.stringMatching(/^\| agent peak RSS at 20k\/s/),
        expect.stringMatching(/^\| collector CPU at 20k\/s/),
        expect.stringMatching(/^\| last reset → last row stored at 20k\/s/),
      ]);
      for (const r of rows) expect(r.split(' | ')[1], r).toMatch(/^[\d,.]+( \S+)?$/);
    },
  );
});
