// Bad input, the agent's side: the loader's byte stream (agent/loader-frames.ts)
// and the BPF record decoder (agent/event-decoder.ts) over arbitrary bytes. The
// decoder must turn any whole record into an event the collector stores, and the
// frame reader must hand back exactly the frames it was given however the pipe
// cut them, or refuse a broken stream with FrameStreamError, holding at most
// one frame's worth of bytes.
import { isIP } from 'node:net';
import fc from 'fast-check';
import { expect } from 'vitest';
import { decodeRecords, decodeWireRecords } from '../agent/event-decoder.js';
import type { DecodeContext } from '../agent/event-decoder.js';
import { RST_EVENT_LAYOUT, RST_EVENT_SIZE } from '../agent/event-layout.js';
import {
  FRAME_BATCH,
  FRAME_COUNTERS,
  FRAME_HELLO,
  FrameReader,
  FrameStreamError,
  MAX_FRAME_BYTES,
  parseBatchHeader,
  parseCounters,
  parseHello,
} from '../agent/loader-frames.js';
import type { Frame } from '../agent/loader-frames.js';
import { BatchBuilder } from '../agent/publish/batch-builder.js';
import { validateMessage } from '../collector/ingest/message-validator.js';
import type { WireResetEvent } from '../proto/index.js';
import { resetsSubject } from '../proto/nats-topology.js';
import { propertySuite } from './props/property-suite.js';

const CTX: DecodeContext = {
  host: 'fuzz-host',
  bootId: 'fuzz-boot',
  rstReasons: { 1: 'NO_SOCKET', 2: 'TCP_ABORT_ON_DATA' },
  dropReasons: { 5: 'TCP_RFC7323_PAWS' },
};

const U32 = 0xffff_ffff;
const U64 = 1n << 64n;

/** Bytes at an arbitrary place in a larger buffer: nothing may assume alignment or byteOffset 0. */
const misplacedBytes = (maxLength: number) =>
  fc
    .tuple(fc.uint8Array({ maxLength }), fc.nat({ max: 7 }))
    .map(([bytes, pad]) => Buffer.concat([Buffer.alloc(pad, 0xa5), bytes]).subarray(pad));

/** A realistic boot → wall clock offset (the decoder adds it to the kernel's boot time). */
const realtimeOffset = fc.bigInt({ min: 0n, max: 1n << 61n });

/** Every field of a decoded record within the range its column and the collector accept. */
function expectWellFormed(e: WireResetEvent): void {
  const problems: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  for (const [name, value] of Object.entries(e)) {
    check(value !== undefined && value !== null, `${name} is ${String(value)}`);
    if (typeof value === 'number') check(Number.isFinite(value) && value >= 0, `${name} ${value}`);
  }
  check(/^\d+$/.test(e.ts_unix_ns) && BigInt(e.ts_unix_ns) < U64, `ts ${e.ts_unix_ns}`);
  for (const name of ['sock_cookie', 'cgroup_id', 'bytes_acked', 'bytes_received'] as const) {
    check(/^\d+$/.test(e[name]) && BigInt(e[name]) < U64, `${name} ${e[name]}`);
  }
  check(e.direction === 'sent' || e.direction === 'received', `direction ${e.direction}`);
  check(e.family === 'ipv4' || e.family === 'ipv6', `family ${e.family}`);
  check(isIP(e.local_addr) !== 0 && isIP(e.remote_addr) !== 0, 'addresses');
  if (e.family === 'ipv6') check(isIP(e.local_addr) === 6 || isIP(e.remote_addr) === 6, 'v6');
  for (const name of ['local_port', 'remote_port', 'rst_ip_id', 'rst_window'] as const) {
    check((e[name] ?? 0) <= 0xffff && Number.isInteger(e[name] ?? 0), `${name} ${e[name]}`);
  }
  for (const name of ['rst_ttl', 'peer_ttl'] as const) check((e[name] ?? 0) <= 0xff, name);
  for (const name of ['netns', 'pid', 'tid', 'segs_in', 'snd_una', 'linger_s'] as const) {
    check(Number.isInteger(e[name]) && e[name] <= U32, `${name} ${e[name]}`);
  }
  check(e.comm.length <= 16 && !e.comm.includes('\0'), `comm ${JSON.stringify(e.comm)}`);
  check(e.reason !== '' && e.state !== '' && e.prev_state !== '', 'names');
  check(['context', 'owner', 'none'].includes(e.pid_source), `pid_source ${e.pid_source}`);
  expect(problems).toEqual([]);
}

function frameBytes(frame: Frame): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(frame.type, 0);
  head.writeUInt32LE(frame.payload.length, 4);
  return Buffer.concat([head, frame.payload]);
}

/** A frame the loader could write: a hello, a batch of records, or counters. */
const loaderFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc
    .dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 4 })
    .map((hello) => ({ type: FRAME_HELLO, payload: Buffer.from(JSON.stringify(hello)) })),
  fc
    .uint8Array({ minLength: 8, maxLength: 8 + 2 * RST_EVENT_SIZE })
    .map((bytes) => ({ type: FRAME_BATCH, payload: Buffer.from(bytes) })),
  fc
    .uint8Array({ minLength: 48, maxLength: 48 + 3 * 56 })
    .map((bytes) => ({ type: FRAME_COUNTERS, payload: Buffer.from(bytes) })),
);

/** Cut points: the stream as the pipe might deliver it. */
function chunked(stream: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const to of [...at, stream.length]) {
    chunks.push(stream.subarray(from, to));
    from = to;
  }
  return chunks;
}

/**
 * What the agent does with each frame (loader-process.ts); nothing but a hello
 * that is not JSON may throw, and that as FrameStreamError.
 */
function useFrame(frame: Frame): void {
  if (frame.type === FRAME_HELLO) {
    try {
      parseHello(frame.payload);
    } catch (err) {
      expect(err).toBeInstanceOf(FrameStreamError);
    }
  } else if (frame.type === FRAME_BATCH) {
    const { realtimeOffsetNs, recordsAt } = parseBatchHeader(frame.payload);
    decodeWireRecords(frame.payload, recordsAt, realtimeOffsetNs, CTX);
  } else if (frame.type === FRAME_COUNTERS) {
    const counters = parseCounters(frame.payload);
    expect(counters.entries.length * 16 + counters.aggregates.length * 56).toBeLessThanOrEqual(
      frame.payload.length,
    );
  }
}

propertySuite('agent decoder and loader frames on arbitrary bytes', [
  {
    name: 'decodeWireRecords: any bytes at any offset, one well-formed event per whole record',
    runs: 1500,
    property: () =>
      fc.property(
        misplacedBytes(3 * RST_EVENT_SIZE + 40),
        fc.nat({ max: 3 * RST_EVENT_SIZE + 60 }),
        realtimeOffset,
        (buf, offset, realtime) => {
          const events = decodeWireRecords(buf, offset, realtime, CTX);
          const whole = Math.max(0, Math.floor((buf.length - offset) / RST_EVENT_SIZE));
          expect(events).toHaveLength(whole);
          events.forEach(expectWellFormed);
        },
      ),
  },
  {
    name: 'decodeRecords: the printed form of any record has a time, numbers and no holes',
    runs: 1000,
    property: () =>
      fc.property(misplacedBytes(2 * RST_EVENT_SIZE), realtimeOffset, (buf, realtime) => {
        for (const e of decodeRecords(buf, 0, realtime, CTX)) {
          expect(e.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
          for (const [name, value] of Object.entries(e)) {
            expect(value, name).not.toBeUndefined();
            if (typeof value === 'number') expect(Number.isFinite(value), name).toBe(true);
          }
        }
      }),
  },
  {
    name: 'whatever the decoder makes of any record, the collector stores as published',
    runs: 300,
    property: () =>
      fc.property(
        fc.array(fc.uint8Array({ minLength: RST_EVENT_SIZE, maxLength: RST_EVENT_SIZE }), {
          minLength: 1,
          maxLength: 6,
        }),
        // A host whose clock is set (the collector refuses times before 2001, which
        // ClickHouse cannot read as text, and after 2262) and up for < 146 years.
        fc.bigInt({ min: 10n ** 18n, max: 1n << 62n }),
        (records, realtime) => {
          const buf = Buffer.concat(records);
          for (let at = RST_EVENT_LAYOUT.ts_boot_ns.offset; at < buf.length; at += RST_EVENT_SIZE) {
            buf.writeBigUInt64LE(buf.readBigUInt64LE(at) % (1n << 62n), at);
          }
          const events = decodeWireRecords(buf, 0, realtime, CTX);
          const builder = new BatchBuilder(
            { host: CTX.host, bootId: CTX.bootId, runId: '7' },
            { maxEvents: 1000, maxBytes: 1 << 20, maxDelayMs: 200 },
          );
          for (const e of events) builder.add(e, 0);
          const batch = builder.flush()!;
          for (const format of ['native', 'tsv'] as const) {
            const v = validateMessage(
              resetsSubject(CTX.host),
              batch.bytes,
              undefined,
              undefined,
              format,
            );
            expect(v.kind === 'refused' ? `${v.refusal}: ${v.detail}` : v.kind, format).toBe(
              'resets',
            );
            if (v.kind === 'resets') expect(v.batch.rows).toBe(events.length);
          }
        },
      ),
  },
  {
    name: 'FrameReader: valid frames cut anywhere come back whole, in order',
    runs: 300,
    property: () =>
      fc.property(
        fc.array(loaderFrame, { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (frames, cuts) => {
          const reader = new FrameReader();
          const got: Frame[] = [];
          for (const chunk of chunked(Buffer.concat(frames.map(frameBytes)), cuts)) {
            got.push(...reader.push(chunk));
          }
          expect(got.map((f) => [f.type, Buffer.from(f.payload).toString('hex')])).toEqual(
            frames.map((f) => [f.type, f.payload.toString('hex')]),
          );
          got.forEach(useFrame);
        },
      ),
  },
  {
    name: 'FrameReader: garbage gives frames the agent can use or FrameStreamError, bounded',
    runs: 400,
    property: () =>
      fc.property(
        fc.array(loaderFrame, { maxLength: 2 }),
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 64 }),
            // A header that announces a frame, to reach the length and type checks.
            fc
              .tuple(fc.nat({ max: 5 }), fc.oneof(fc.nat({ max: 300 }), fc.nat()))
              .map(([type, len]) => {
                const h = Buffer.alloc(8);
                h.writeUInt32LE(type, 0);
                h.writeUInt32LE(len, 4);
                return new Uint8Array(h);
              }),
          ),
          { minLength: 1, maxLength: 10 },
        ),
        (frames, garbage) => {
          const reader = new FrameReader();
          let pushed = 0;
          let consumed = 0;
          const chunks = [...frames.map(frameBytes), ...garbage.map((g) => Buffer.from(g))];
          for (const chunk of chunks) {
            let got: Frame[];
            try {
              got = reader.push(chunk);
            } catch (err) {
              expect(err).toBeInstanceOf(FrameStreamError);
              expect((err as Error).message).toMatch(/^loader frame .+/);
              expect((err as Error).message).not.toContain('\n');
              return;
            }
            pushed += chunk.length;
            for (const f of got) {
              consumed += 8 + f.payload.length;
              useFrame(f);
            }
            // What waits is less than one header, or one frame not yet complete.
            const held = pushed - consumed;
            expect(held).toBeLessThan(8 + MAX_FRAME_BYTES);
          }
        },
      ),
  },
]);
