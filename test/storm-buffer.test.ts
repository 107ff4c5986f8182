// The agent's bound on storm aggregates between heartbeats: merged by key,
// past the bound summed without the remote, past that cut and counted.
import { describe, expect, it } from 'vitest';
import {
  AggregateBuffer,
  MAX_AGGREGATES,
  MAX_COARSE_AGGREGATES,
  remotePrefix,
} from '../agent/publish/storm-aggregates.js';
import type { ResetAggregate } from '../proto/index.js';

function aggregate(i: number, resets = 1, reason = 'NO_SOCKET'): ResetAggregate {
  return {
    netns: 1,
    direction: 'sent',
    reason,
    family: 'ipv4',
    remote_prefix: `10.${(i >> 8) & 255}.${i & 255}.0/24`,
    remote_port: 80,
    resets: String(resets),
    first_unix_ns: String(1000 + i),
    last_unix_ns: String(2000 + i),
  };
}

const total = (all: ResetAggregate[]) => all.reduce((n, a) => n + BigInt(a.resets), 0n);

describe('AggregateBuffer', () => {
  it('merges drains of one key: sum, earliest first, latest last', () => {
    const buffer = new AggregateBuffer();
    buffer.add([aggregate(1, 5)]);
    buffer.add([{ ...aggregate(1, 7), first_unix_ns: '900', last_unix_ns: '5000' }]);
    expect(buffer.take()).toEqual([
      { ...aggregate(1, 12), first_unix_ns: '900', last_unix_ns: '5000' },
    ]);
    expect(buffer.take()).toEqual([]);
  });

  it('keeps every reset counted past its bound: coarse keys, then cut and counted', () => {
    const buffer = new AggregateBuffer();
    const many = Array.from({ length: MAX_AGGREGATES + 10 }, (_, i) => aggregate(i, 2));
    buffer.add(many);
    const held = buffer.take();
    expect(held).toHaveLength(MAX_AGGREGATES + 1);
    expect(held.at(-1)).toMatchObject({ remote_prefix: '0.0.0.0/0', remote_port: 0, resets: '20' });
    expect(total(held)).toBe(total(many));

    // Fill the fine keys, then more coarse keys (one per reason) than allowed.
    buffer.add(many.slice(0, MAX_AGGREGATES));
    const reasons = Array.from({ length: MAX_COARSE_AGGREGATES + 3 }, (_, i) =>
      aggregate(MAX_AGGREGATES + i, 3, `R${i}`),
    );
    buffer.add(reasons);
    expect(buffer.size).toBe(MAX_AGGREGATES + MAX_COARSE_AGGREGATES);
    expect(buffer.cutResets).toBe(9n);
    expect(total(buffer.take()) + buffer.cutResets).toBe(
      total(many.slice(0, MAX_AGGREGATES)) + total(reasons),
    );
  });

  it('names the remote network as /24 or /64', () => {
    const v4 = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 0]);
    expect(remotePrefix(2, v4)).toBe('192.0.2.0/24');
    const v6 = Buffer.from('20010db8000100000000000000000000', 'hex');
    expect(remotePrefix(10, v6)).toBe('2001:db8:1:0::/64');
  });
});
