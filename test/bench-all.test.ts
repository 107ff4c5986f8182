// The one benchmark command runs and prints its table: conditions, then every
// capture row with a number. No timing is asserted: a loaded machine changes the
// figures, not whether they are there. Needs root (namespaces, BPF), bpftrace,
// tcpdump and hping3; about a minute and a half (16 short storms).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../agent/repo-root.js';

const run = promisify(execFile);

describe('node dist/bench/all.js --quick --only capture', () => {
  it('prints the conditions and a number on every row', { timeout: 240_000 }, async () => {
    const { stdout } = await run(
      process.execPath,
      [join(repoRoot(), 'dist', 'bench', 'all.js'), '--quick', '--only', 'capture'],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    expect(stdout).toMatch(/^kernel \S+, \d+ cores \(.+\), [\d.]+ GiB memory$/m);
    expect(stdout).toMatch(/^bpftrace \S+, tcpdump \S+, hping3 \S+, iperf3 \S+$/m);
    const rows = stdout.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| figure'));
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
  });
});
