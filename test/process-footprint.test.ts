// What a process maps just by loading rstscope's modules. chDB's library is
// some 150 MiB of address space and resident pages; the agent must never load
// it (RSS target 150 MiB), and the collector only when it opens embedded storage.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIST = join(import.meta.dirname, '..', 'dist');

/** Whether a fresh Node process that imports `modules` has chDB's library mapped. */
function mapsChdb(modules: string[]): boolean {
  const script = `
    for (const m of ${JSON.stringify(modules.map((m) => join(DIST, m)))}) await import(m);
    const maps = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8');
    process.stdout.write(String(/libchdb/.test(maps)));`;
  return (
    execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    }) === 'true'
  );
}

describe('process footprint', () => {
  it('the CLI’s modules, the agent’s included, do not load chDB', () => {
    expect(mapsChdb(['agent/index.js', 'collector/index.js', 'cli/up/up-command.js'])).toBe(false);
  });

  it('opening embedded storage does (so the check above can fail)', () => {
    expect(mapsChdb(['collector/storage/chdb-storage.js'])).toBe(true);
  });
});
