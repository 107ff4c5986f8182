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
    const p = Buffer.alloc(32 + 16);
    p.writeBigUInt64LE(5n, 0); // lost
    p.writeBigUInt64LE(0n, 8);
    p.writeBigUInt64LE(2n, 16);
    p.writeUInt32LE(1, 24);
    p.writeUInt32LE(4026532177, 32);
    p.writeUInt16LE(1, 36);
    p.writeUInt8(1, 38);
    p.writeUInt8(1, 39);
    p.writeBigUInt64LE(42n, 40);
    expect(parseCounters(p)).toEqual({
      lost: 5n,
      countOverflow: 0n,
      selfReset: 2n,
      entries: [{ netns: 4026532177, reason: 1, direction: 1, accepted: true, count: 42n }],
    });
  });
});
