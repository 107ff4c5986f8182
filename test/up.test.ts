// `rstscope up` end to end: one command starts NATS, the collector and the agent;
// resets in the lab become rows that `rstscope sql --json` returns; Ctrl-C (SIGINT)
// stops everything and leaves no process behind.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RSTSCOPE_BIN } from './lab/agent-runner.js';
import { freePort } from './lab/free-port.js';
import { Lab } from './lab/lab.js';
import { synStorm } from './lab/scenarios.js';

let lab: Lab;
let dataDir: string;

beforeAll(() => {
  lab = Lab.create();
  dataDir = mkdtempSync(join(tmpdir(), 'rstscope-up-'));
});

afterAll(() => {
  lab?.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Processes whose command line mentions the text (ours only: it is unique per run). */
function processesWith(text: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', text], { encoding: 'utf8' }).trim().split('\n');
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('rstscope up', () => {
  it('runs everything, stores the lab resets, and Ctrl-C leaves no process behind', async () => {
    const natsPort = await freePort();
    const queryAddress = `127.0.0.1:${await freePort()}`;
    // Names outside Kubernetes reach the collector: the lab's two ends by inventory.
    const inventory = join(dataDir, 'inventory.json');
    writeFileSync(
      inventory,
      JSON.stringify({
        entries: [
          { address: '10.2.0.0/24', name: 'lab-servers', kind: 'host' },
          { address: '10.1.0.2', name: 'lab-client', kind: 'host' },
        ],
      }),
    );
    const up = spawn(
      RSTSCOPE_BIN,
      [
        'up',
        '--data-dir',
        dataDir,
        '--nats-listen',
        `127.0.0.1:${natsPort}`,
        '--listen',
        queryAddress,
        '--netns',
        lab.server.ns,
        '--host',
        'up-host',
        '--inventory',
        inventory,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    up.stdout.on('data', (b: Buffer) => (out += b.toString()));
    up.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => up.once('exit', resolve));
    try {
      const deadline = Date.now() + 60_000;
      while (!out.includes('Ctrl-C stops everything')) {
        if (up.exitCode !== null || Date.now() > deadline) throw new Error(`up failed: ${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(out).toContain(`nats://127.0.0.1:${natsPort}`);
      expect(out).toContain(join(dataDir, 'clickhouse'));
      expect(out).toContain(queryAddress);

      await synStorm(lab, 9, 20, 1000);
      let rows: {
        direction: string;
        reason: string;
        local_port: number;
        local_name: string;
        remote_name: string;
      }[] = [];
      const until = Date.now() + 20_000;
      while (rows.length < 20 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 300));
        const text = execFileSync(
          RSTSCOPE_BIN,
          [
            'sql',
            '--server',
            queryAddress,
            '--json',
            "SELECT direction, reason, local_port, local_name, remote_name FROM resets WHERE host = 'up-host'",
          ],
          { encoding: 'utf8' },
        );
        rows = text
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as (typeof rows)[number]);
      }
      expect(rows).toHaveLength(20);
      expect(rows.every((r) => r.direction === 'sent' && r.reason === 'NO_SOCKET')).toBe(true);
      expect(new Set(rows.map((r) => `${r.local_name} ← ${r.remote_name}`))).toEqual(
        new Set(['lab-servers ← lab-client']),
      );
      expect(processesWith(dataDir).length).toBeGreaterThan(0);
    } finally {
      up.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(processesWith(dataDir)).toEqual([]);
    expect(processesWith(`nats://127.0.0.1:${natsPort}`)).toEqual([]);
  });
});
