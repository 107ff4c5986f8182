import { describe, expect, it } from 'vitest';
import { effectiveCapabilities, missingCapabilities } from '../agent/capabilities.js';
import { DEFAULT_RINGBUF_MB, loadAgentConfig } from '../agent/config.js';
import { AgentConfigError } from '../agent/errors.js';

describe('agent config', () => {
  it('has documented defaults', () => {
    const c = loadAgentConfig([], {});
    expect(c).toMatchObject({
      json: false,
      netns: [],
      ringbufMb: DEFAULT_RINGBUF_MB,
      durationS: 0,
    });
    expect(c.loaderPath).toMatch(/build\/rstscope-loader$/);
  });

  it('takes repeated --netns, --json and NODE_NAME', () => {
    const c = loadAgentConfig(['--json', '--netns', 'a', '--netns', '/proc/1/ns/net'], {
      NODE_NAME: 'node-7',
    });
    expect(c).toMatchObject({ json: true, netns: ['a', '/proc/1/ns/net'], host: 'node-7' });
  });

  it.each([
    [['--ringbuf-mb', '3'], '--ringbuf-mb 3: expected a power of two from 1 to 1024'],
    [['--duration', 'soon'], '--duration soon: expected seconds, 0 or more'],
    [['--host', 'a b'], '--host a b: expected a DNS-style name (letters, digits, . _ -)'],
    [['--bogus'], "Unknown option '--bogus'; see 'rstscope agent --help'"],
  ])('refuses %j with one line naming the setting', (argv, message) => {
    expect(() => loadAgentConfig(argv, {})).toThrow(new AgentConfigError(message));
  });
});

describe('capabilities', () => {
  const status = (hex: string) => `Name:\tnode\nCapEff:\t${hex}\n`;

  it('reads CapEff', () => {
    expect(effectiveCapabilities(status('000001ffffffffff'))).toBe(0x1ffffffffffn);
  });

  it('needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN', () => {
    expect(missingCapabilities(0n)).toEqual(['CAP_BPF', 'CAP_PERFMON']);
    expect(missingCapabilities(1n << 39n)).toEqual(['CAP_PERFMON']);
    expect(missingCapabilities((1n << 39n) | (1n << 38n))).toEqual([]);
    expect(missingCapabilities(1n << 21n)).toEqual([]);
  });
});
