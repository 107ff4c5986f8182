import { describe, expect, it } from 'vitest';
import {
  FrameReader,
  FrameStreamError,
  MAX_FRAME_BYTES,
  parseCounters,
} from '../agent/loader-frames.js';

function frame(type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(type, 0);
  h.writeUInt32LE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

describe('loader frames', () => {
  it('reassembles frames split anywhere in the stream', () => {
    const stream = Buffer.concat([
      frame(1, Buffer.from('{"a":1}')),
      frame(2, Buffer.alloc(208, 7)),
    ]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const reader = new FrameReader();
      const frames = [
        ...reader.push(stream.subarray(0, cut)),
        ...reader.push(stream.subarray(cut)),
      ];
      expect(frames.map((f) => [f.type, f.payload.length])).toEqual([
        [1, 7],
        [2, 208],
      ]);
    }
  });

  it('refuses a frame longer than any the loader writes', () => {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(2, 0);
    h.writeUInt32LE(MAX_FRAME_BYTES + 1, 4);
    expect(() => new FrameReader().push(h)).toThrow(FrameStreamError);
  });

  it('parses a counters frame', () => {
    const p = Buffer.alloc(48 + 16);
    p.writeBigUInt64LE(5n, 0); // lost
    p.writeBigUInt64LE(0n, 8);
    p.writeBigUInt64LE(2n, 16);
    p.writeBigUInt64LE(7n, 24); // aggregated
    p.writeBigInt64LE(1_000n, 32); // realtime offset
    p.writeUInt32LE(1, 40);
    p.writeUInt32LE(0, 44);
    p.writeUInt32LE(4026532177, 48);
    p.writeUInt16LE(1, 52);
    p.writeUInt8(1, 54);
    p.writeUInt8(1, 55);
    p.writeBigUInt64LE(42n, 56);
    expect(parseCounters(p)).toEqual({
      lost: 5n,
      countOverflow: 0n,
      selfReset: 2n,
      aggregated: 7n,
      entries: [{ netns: 4026532177, reason: 1, direction: 1, accepted: true, count: 42n }],
      aggregates: [],
    });
  });

  it('parses the storm aggregates after the counts, times made wall-clock', () => {
    const p = Buffer.alloc(48 + 56);
    p.writeBigUInt64LE(3n, 24); // aggregated
    p.writeBigInt64LE(1_700_000_000_000_000_000n, 32);
    p.writeUInt32LE(0, 40);
    p.writeUInt32LE(1, 44);
    p.writeBigUInt64LE(100n, 48); // first_ns (boot time)
    p.writeBigUInt64LE(900n, 56); // last_ns
    p.writeBigUInt64LE(3n, 64); // resets
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 0]).copy(p, 72);
    p.writeUInt32LE(4026532177, 88); // netns
    p.writeUInt16LE(2, 92); // reason
    p.writeUInt16LE(40000, 94); // remote port
    p.writeUInt16LE(2, 96); // AF_INET
    p.writeUInt8(1, 98); // sent
    const [a] = parseCounters(p).aggregates;
    expect(a).toEqual({
      firstUnixNs: 1_700_000_000_000_000_100n,
      lastUnixNs: 1_700_000_000_000_000_900n,
      resets: 3n,
      remoteNet: Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 0]),
      netns: 4026532177,
      reason: 2,
      remotePort: 40000,
      family: 2,
      direction: 1,
      merged: false,
    });
  });
});
