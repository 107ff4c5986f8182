// Bad input to the pipeline's commands gets one line that says what is wrong and
// how to fix it, and a non-zero exit: 2 for a bad flag, 1 for an unreachable peer.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RSTSCOPE_BIN } from './lab/agent-runner.js';
import { freePort } from './lab/free-port.js';
import { NatsServer } from './lab/nats-server.js';

const dataDir = mkdtempSync(join(tmpdir(), 'rstscope-cli-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function rstscope(...args: string[]) {
  const r = spawnSync(RSTSCOPE_BIN, args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, lines: r.stderr.trim().split('\n').filter(Boolean) };
}

describe('pipeline commands on bad input', () => {
  it.each([
    [
      ['collector', '--clickhouse-url', 'ftp://x'],
      /--clickhouse-url ftp:\/\/x: expected http\(s\):\/\/HOST:PORT/,
    ],
    [['collector', '--listen', 'nowhere'], /--listen nowhere: expected HOST:PORT/],
    [['collector', '--max-insert-rows', '0'], /--max-insert-rows 0: expected a whole number/],
    [['agent', '--nats', 'http://x:1'], /--nats http:\/\/x:1: expected nats:\/\/HOST:PORT/],
    [['up', '--nats-listen', 'x'], /--nats-listen x: expected IPv4:PORT/],
    [['schema', '--bogus'], /Unknown option '--bogus'/],
  ])('rstscope %j: one line, exit 2', (args, message) => {
    const r = rstscope(...args);
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(message);
  });

  it('an unreachable NATS: one line naming it and the fix, exit 1', async () => {
    const port = await freePort();
    const r = rstscope(
      'collector',
      '--nats',
      `nats://127.0.0.1:${port}`,
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${await freePort()}`,
    );
    expect(r.code).toBe(1);
    const last = r.lines.at(-1)!;
    expect(last).toContain(`cannot connect to NATS at nats://127.0.0.1:${port}`);
    expect(last).toContain('start nats-server with -js, or give --nats URL');
  });

  it('a query address already taken: the collector says so and exits 1, late in its startup', async () => {
    // Everything before the query server is up (NATS, the store, the ingester) by then.
    const nats = await NatsServer.start();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const r = rstscope(
        ...['collector', '--nats', nats.url, '--data-dir', join(dataDir, 'taken')],
        ...['--listen', `127.0.0.1:${port}`],
      );
      expect(r.code).toBe(1);
      expect(r.lines.at(-1)).toContain(`127.0.0.1:${port}`);
    } finally {
      taken.close();
      await nats.stop();
    }
  });

  it('an unreachable ClickHouse server: one line naming the URL, exit 1', async () => {
    const port = await freePort();
    const r = rstscope('collector', '--clickhouse-url', `http://127.0.0.1:${port}`);
    expect(r.code).toBe(1);
    expect(r.lines.at(-1)).toContain(`127.0.0.1:${port}`);
  });

  it('schema --cluster prints replicated local tables and distributed ones, ON CLUSTER', () => {
    const r = rstscope('schema', '--cluster', 'prod');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'CREATE TABLE IF NOT EXISTS `rstscope`.`resets_local` ON CLUSTER `prod`',
    );
    expect(r.stdout).toMatch(/ENGINE = Distributed\(/);
    expect(r.stdout).toMatch(/ReplicatedReplacingMergeTree/);
  });
});

describe('query verbs through the binary', () => {
  it.each([
    [['top', '--by', 'colour'], /^rstscope top: --by colour: expected a comma-separated list/],
    [['resets', '--port', '0'], /^rstscope resets: --port 0: expected 1 to 65535$/],
    [['watch', '--since', '1h'], /^rstscope watch: Unknown option '--since'/],
    [
      ['middleboxes', '--direction', 'up'],
      /^rstscope middleboxes: --direction up: expected one of/,
    ],
    [['fleet', '--stale-after', '0s'], /^rstscope fleet: --stale-after 0s: expected an age/],
    [['explain'], /^rstscope explain: expected one or two endpoints/],
    [
      ['diagnose', '--since', 'yesterday'],
      /^rstscope diagnose: --since yesterday: expected an age/,
    ],
  ])('rstscope %j: one line, exit 2', (args, message) => {
    const r = rstscope(...args);
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(message);
  });

  it('every query verb has --help with examples, and the top-level usage names it', () => {
    const usage = rstscope('--help');
    for (const verb of [
      'top',
      'watch',
      'explain',
      'diagnose',
      'middleboxes',
      'fleet',
      'sql',
      'resets',
    ]) {
      expect(usage.stdout).toMatch(new RegExp(`^  ${verb} `, 'm'));
      const help = rstscope(verb, '--help');
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^usage: rstscope ${verb} `));
      expect(help.stdout).toMatch(/\nexamples:\n {2}rstscope /);
    }
  });

  it('a collector nobody answers: one line naming the address and --server, exit 1', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    for (const verb of ['top', 'fleet', 'watch']) {
      const r = rstscope(verb, '--server', address);
      expect(r.code).toBe(1);
      expect(r.lines).toEqual([
        `rstscope ${verb}: cannot reach the collector at ${address} (is \`rstscope collector\` or \`rstscope up\` running? use --server HOST:PORT)`,
      ]);
    }
  });
});
