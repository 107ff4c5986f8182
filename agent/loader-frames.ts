// The loader's stdout (agent/native/frames.h) cut into frames. Pure.
import type { EnumNames } from './kernel-names.js';

export const FRAME_HELLO = 1;
export const FRAME_BATCH = 2;
export const FRAME_COUNTERS = 3;

const FRAME_HEADER_SIZE = 8;
const BATCH_HEADER_SIZE = 8;
const COUNTERS_HEADER_SIZE = 32;
const COUNT_ENTRY_SIZE = 16;
/** Far above the loader's 256 KiB batches: anything larger is a broken stream. */
export const MAX_FRAME_BYTES = 16 << 20;

export interface Frame {
  type: number;
  payload: Buffer;
}

export interface LoaderHello {
  record_size: number;
  kernel_release: string;
  features: {
    rst_reason: boolean;
    send_reset_skb: boolean;
    discarded_rst: boolean;
    discarded_rst_socket: boolean;
  };
  rst_reasons: EnumNames;
  drop_reasons: EnumNames;
}

export interface CountEntry {
  netns: number;
  reason: number;
  direction: number;
  accepted: boolean;
  count: bigint;
}

export interface KernelCounters {
  /** Events counted in the kernel but not delivered: the ring buffer was full. */
  lost: bigint;
  /** Events not in the per-reason counters because that map was full. */
  countOverflow: bigint;
  /** tcp_reset() calls without an RST (abort on data), not reported as received. */
  selfReset: bigint;
  entries: CountEntry[];
}

export class FrameStreamError extends Error {
  override name = 'FrameStreamError';
}

/** Accumulates chunks of the byte stream and yields whole frames. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Frame[] = [];
    let at = 0;
    while (this.pending.length - at >= FRAME_HEADER_SIZE) {
      const type = this.pending.readUInt32LE(at);
      const len = this.pending.readUInt32LE(at + 4);
      if (len > MAX_FRAME_BYTES) {
        throw new FrameStreamError(`loader frame of ${len} bytes exceeds ${MAX_FRAME_BYTES}`);
      }
      if (this.pending.length - at - FRAME_HEADER_SIZE < len) break;
      const start = at + FRAME_HEADER_SIZE;
      frames.push({ type, payload: this.pending.subarray(start, start + len) });
      at = start + len;
    }
    this.pending = this.pending.subarray(at);
    return frames;
  }
}

export function parseBatchHeader(payload: Buffer): { realtimeOffsetNs: bigint; recordsAt: number } {
  return { realtimeOffsetNs: payload.readBigInt64LE(0), recordsAt: BATCH_HEADER_SIZE };
}

export function parseCounters(payload: Buffer): KernelCounters {
  const n = payload.readUInt32LE(24);
  const entries: CountEntry[] = [];
  for (let i = 0; i < n; i++) {
    const at = COUNTERS_HEADER_SIZE + i * COUNT_ENTRY_SIZE;
    if (at + COUNT_ENTRY_SIZE > payload.length) break;
    entries.push({
      netns: payload.readUInt32LE(at),
      reason: payload.readUInt16LE(at + 4),
      direction: payload.readUInt8(at + 6),
      accepted: payload.readUInt8(at + 7) !== 0,
      count: payload.readBigUInt64LE(at + 8),
    });
  }
  return {
    lost: payload.readBigUInt64LE(0),
    countOverflow: payload.readBigUInt64LE(8),
    selfReset: payload.readBigUInt64LE(16),
    entries,
  };
}
