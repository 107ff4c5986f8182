// explain and diagnose at the edges: how they read endpoints and windows, and
// the one-line answers to bad input and to a collector that is not there.
import { describe, expect, it } from 'vitest';
import { runDiagnoseCommand } from '../cli/query/diagnose-command.js';
import { endpointText, parseEndpoint } from '../collector/diagnosis/endpoint.js';
import { runExplainCommand } from '../cli/query/explain-command.js';
import { timeWindow } from '../cli/query/time-window.js';
import { freePort } from './lab/free-port.js';

function capture() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      stdout: { write: (t: string) => (out.stdout += t) },
      stderr: { write: (t: string) => (out.stderr += t) },
    },
  };
}

describe('endpoints and windows', () => {
  it('reads IPv4 and IPv6 endpoints, with or without a port, as the store holds them', () => {
    expect(parseEndpoint('10.1.0.2:41234')).toMatchObject({
      address: '::ffff:10.1.0.2',
      port: 41234,
    });
    expect(parseEndpoint('10.2.0.2')).toMatchObject({
      address: '::ffff:10.2.0.2',
      port: undefined,
    });
    expect(parseEndpoint('[fd00:2::2]:80')).toMatchObject({ address: 'fd00:2::2', port: 80 });
    expect(parseEndpoint('fd00:2::2')).toMatchObject({ address: 'fd00:2::2', port: undefined });
    for (const bad of ['web-1:80', '10.1.0.2:0', '10.1.0.2:70000', '300.1.1.1', '[fd00::2']) {
      expect(parseEndpoint(bad), bad).toBeUndefined();
    }
    expect(endpointText('::ffff:10.1.0.2', 80)).toBe('10.1.0.2:80');
    expect(endpointText('fd00:2::2', 80)).toBe('[fd00:2::2]:80');
  });

  it('takes --since or --from/--to, in UTC', () => {
    const now = new Date('2026-11-21T12:00:00Z');
    expect(timeWindow({ since: '90m' }, '1h', now).from.toISOString()).toBe(
      '2026-11-21T10:30:00.000Z',
    );
    expect(timeWindow({}, '1h', now).from.toISOString()).toBe('2026-11-21T11:00:00.000Z');
    const w = timeWindow({ from: '2026-11-20', to: '2026-11-20 06:00:00' }, '1h', now);
    expect([w.from.toISOString(), w.to.toISOString()]).toEqual([
      '2026-11-20T00:00:00.000Z',
      '2026-11-20T06:00:00.000Z',
    ]);
    expect(() => timeWindow({ since: '1h', from: '2026-11-20' }, '1h', now)).toThrow(
      /either --since/,
    );
    expect(() => timeWindow({ since: 'yesterday' }, '1h', now)).toThrow(
      /--since yesterday: expected/,
    );
    expect(() => timeWindow({ from: '2026-11-22' }, '1h', now)).toThrow(/before --to/);
  });
});

describe('one-line answers', () => {
  it('bad usage exits 2 with what is wrong and the expected form', async () => {
    for (const [args, message] of [
      [[], /expected one or two endpoints/],
      [['web-1:80'], /web-1:80: expected ADDRESS\[:PORT\]/],
      [['10.1.0.2:1', '--since', 'soon'], /--since soon: expected an age/],
      [['10.1.0.2:1', '--server', 'nowhere'], /--server nowhere: expected HOST:PORT/],
    ] as const) {
      const { out, io } = capture();
      expect(await runExplainCommand([...args], {}, io)).toBe(2);
      expect(out.stderr).toMatch(message);
      expect(out.stderr.trim().split('\n')).toHaveLength(1);
    }
    const { out, io } = capture();
    expect(await runDiagnoseCommand(['extra'], {}, io)).toBe(2);
    expect(out.stderr).toBe(
      "rstscope diagnose: unexpected argument extra; see 'rstscope diagnose --help'\n",
    );
  });

  it('a collector that does not answer: exit 1 and one line naming the address', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    for (const run of [
      (io: ReturnType<typeof capture>['io']) =>
        runExplainCommand(['10.1.0.2:1', '--server', address], {}, io),
      (io: ReturnType<typeof capture>['io']) => runDiagnoseCommand(['--server', address], {}, io),
    ]) {
      const { out, io } = capture();
      expect(await run(io)).toBe(1);
      expect(out.stderr).toContain(address);
      expect(out.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
