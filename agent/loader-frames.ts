// The loader's stdout (agent/native/frames.h) cut into frames. Pure.
import type { EnumNames } from './kernel-names.js';

export const FRAME_HELLO = 1;
export const FRAME_BATCH = 2;
export const FRAME_COUNTERS = 3;

const FRAME_HEADER_SIZE = 8;
const BATCH_HEADER_SIZE = 8;
const COUNTERS_HEADER_SIZE = 48;
const COUNT_ENTRY_SIZE = 16;
/** struct aggregate_entry: struct rst_agg (24), struct rst_agg_key (28), padding (4). */
const AGGREGATE_ENTRY_SIZE = 56;
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

/** Resets of a storm the kernel summed (struct rst_agg_key + struct rst_agg), drained once. */
export interface KernelAggregate {
  netns: number;
  direction: number;
  reason: number;
  /** AF_INET or AF_INET6, from the address. */
  family: number;
  /** The remote address with its host bits zeroed, 16 bytes (IPv4 v4-mapped). */
  remoteNet: Buffer;
  remotePort: number;
  /** The remote was left out (remoteNet and remotePort 0): the kernel map was nearly full. */
  merged: boolean;
  resets: bigint;
  firstUnixNs: bigint;
  lastUnixNs: bigint;
}

export interface KernelCounters {
  /** Events counted in the kernel but not delivered: the ring buffer was full. */
  lost: bigint;
  /** Events not in the per-reason counters because that map was full. */
  countOverflow: bigint;
  /** tcp_reset() calls without an RST (abort on data), not reported as received. */
  selfReset: bigint;
  /** Resets summed into storm aggregates instead of recorded one by one (cumulative). */
  aggregated: bigint;
  entries: CountEntry[];
  /** The aggregates drained since the previous counters frame. */
  aggregates: KernelAggregate[];
}

export class FrameStreamError extends Error {
  override name = 'FrameStreamError';
}

/**
 * The shortest payload of each frame type: its fixed header. Checked as frames are
 * cut, where the caller handles a broken stream, so that parsing never reads past
 * a payload's end (a RangeError there would escape the stream handler and crash
 * the agent with a stack trace).
 */
const MIN_PAYLOAD: Record<number, number> = {
  [FRAME_HELLO]: 2,
  [FRAME_BATCH]: BATCH_HEADER_SIZE,
  [FRAME_COUNTERS]: COUNTERS_HEADER_SIZE,
};

/** Accumulates chunks of the byte stream and yields whole frames. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  /** Chunks after `pending`, joined only once the next frame is complete: a large
   * frame arriving in pipe-sized chunks is copied once, not once per chunk. */
  private waiting: Buffer[] = [];
  private held = 0;
  /** Bytes the next frame needs (its header, then header and payload). */
  private needed = FRAME_HEADER_SIZE;

  push(chunk: Buffer): Frame[] {
    this.held += chunk.length;
    if (this.held < this.needed) {
      this.waiting.push(chunk);
      return [];
    }
    this.pending = this.pending.length
      ? Buffer.concat([this.pending, ...this.waiting, chunk])
      : this.waiting.length
        ? Buffer.concat([...this.waiting, chunk])
        : chunk;
    this.waiting = [];
    const frames: Frame[] = [];
    let at = 0;
    this.needed = FRAME_HEADER_SIZE;
    while (this.pending.length - at >= FRAME_HEADER_SIZE) {
      const type = this.pending.readUInt32LE(at);
      const len = this.pending.readUInt32LE(at + 4);
      if (len > MAX_FRAME_BYTES) {
        throw new FrameStreamError(`loader frame of ${len} bytes exceeds ${MAX_FRAME_BYTES}`);
      }
      // The loader is built with the agent: any other type means the stream is out of step.
      const min = MIN_PAYLOAD[type];
      if (min === undefined) throw new FrameStreamError(`loader frame type ${type} is unknown`);
      if (len < min) {
        throw new FrameStreamError(
          `loader frame of type ${type} has ${len} bytes, fewer than ${min}`,
        );
      }
      if (this.pending.length - at - FRAME_HEADER_SIZE < len) {
        this.needed = FRAME_HEADER_SIZE + len;
        break;
      }
      const start = at + FRAME_HEADER_SIZE;
      frames.push({ type, payload: this.pending.subarray(start, start + len) });
      at = start + len;
    }
    this.pending = this.pending.subarray(at);
    this.held = this.pending.length;
    return frames;
  }
}

/** The hello frame's JSON; anything else is a broken stream. */
export function parseHello(payload: Buffer): LoaderHello {
  let hello: unknown;
  try {
    hello = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new FrameStreamError(`loader hello frame is not JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (typeof hello !== 'object' || hello === null || Array.isArray(hello)) {
    throw new FrameStreamError('loader hello frame is not a JSON object');
  }
  return hello as LoaderHello;
}

function needBytes(payload: Buffer, min: number, what: string): void {
  if (payload.length < min) {
    throw new FrameStreamError(
      `loader ${what} frame has ${payload.length} bytes, fewer than ${min}`,
    );
  }
}

export function parseBatchHeader(payload: Buffer): { realtimeOffsetNs: bigint; recordsAt: number } {
  needBytes(payload, BATCH_HEADER_SIZE, 'batch');
  return { realtimeOffsetNs: payload.readBigInt64LE(0), recordsAt: BATCH_HEADER_SIZE };
}

export function parseCounters(payload: Buffer): KernelCounters {
  needBytes(payload, COUNTERS_HEADER_SIZE, 'counters');
  const realtimeOffsetNs = payload.readBigInt64LE(32);
  const n = payload.readUInt32LE(40);
  const nAggregates = payload.readUInt32LE(44);
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
  const aggregates: KernelAggregate[] = [];
  const aggregatesAt = COUNTERS_HEADER_SIZE + n * COUNT_ENTRY_SIZE;
  for (let i = 0; i < nAggregates; i++) {
    const at = aggregatesAt + i * AGGREGATE_ENTRY_SIZE;
    if (at + AGGREGATE_ENTRY_SIZE > payload.length) break;
    aggregates.push({
      firstUnixNs: payload.readBigUInt64LE(at) + realtimeOffsetNs,
      lastUnixNs: payload.readBigUInt64LE(at + 8) + realtimeOffsetNs,
      resets: payload.readBigUInt64LE(at + 16),
      remoteNet: Buffer.from(payload.subarray(at + 24, at + 40)),
      netns: payload.readUInt32LE(at + 40),
      reason: payload.readUInt16LE(at + 44),
      remotePort: payload.readUInt16LE(at + 46),
      family: payload.readUInt16LE(at + 48),
      direction: payload.readUInt8(at + 50),
      merged: payload.readUInt8(at + 51) !== 0,
    });
  }
  return {
    lost: payload.readBigUInt64LE(0),
    countOverflow: payload.readBigUInt64LE(8),
    selfReset: payload.readBigUInt64LE(16),
    aggregated: payload.readBigUInt64LE(24),
    entries,
    aggregates,
  };
}
