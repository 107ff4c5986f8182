// Bad input, the collector's side: what arrives on the agents' subjects. Arbitrary
// bytes and mutated batches (made by the agent's own BatchBuilder) are either
// accepted, with rows the real store takes, or refused with a kind and a one-line
// detail; nothing throws. A batch may speak only for its subject's host, and an
// oversize message is refused unread. The generic codec (proto/codec.ts) decodes
// any bytes or throws MessageDecodeError, nothing else.
import { isIP } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect } from 'vitest';
import { BatchBuilder } from '../agent/publish/batch-builder.js';
import { validateMessage } from '../collector/ingest/message-validator.js';
import type { InsertFormat, Validated } from '../collector/ingest/message-validator.js';
import { RESET_NATIVE_COLUMNS } from '../collector/ingest/reset-batch-native.js';
import type { ResetBatchNative } from '../collector/ingest/reset-batch-native.js';
import { RESET_TSV_COLUMNS } from '../collector/ingest/reset-batch-tsv.js';
import type { ResetBatchTsv } from '../collector/ingest/reset-batch-tsv.js';
import type { Storage } from '../collector/storage/storage.js';
import {
  MessageDecodeError,
  codecFor,
  grpcServiceDefinition,
  resetBatchCodec,
} from '../proto/index.js';
import type { WireResetEvent } from '../proto/index.js';
import { MAX_MESSAGE_BYTES, agentsSubject, resetsSubject } from '../proto/nats-topology.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import { closedPortWireEvent } from './lab/wire-events.js';
import { propertySuite } from './props/property-suite.js';

const FORMATS: readonly InsertFormat[] = ['native', 'tsv'];
const HOST = 'node-1.example';

/** Host names as the agent allows them (agent/config.ts). */
const agentHost = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/);

/** Text that breaks naive readers: quotes, tabs, newlines, backslashes, NUL, non-ASCII. */
const nastyText = fc.string({
  unit: fc.constantFrom('a', 'Z', '0', '.', ':', '\t', '\n', '\\', "'", '\0', 'é', '€', '%'),
  maxLength: 12,
});

const address = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.constantFrom('::ffff:10.0.0.1', 'fe80::1%eth0', '010.1.1.1', '1.2.3', ''),
  nastyText,
);

/** A reset as an agent could publish it: mostly sane, sometimes not. */
const wireEvent: fc.Arbitrary<WireResetEvent> = fc
  .record({
    ts_unix_ns: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(String),
    direction: fc.constantFrom('sent', 'received', 'sideways', ''),
    family: fc.constantFrom('ipv4', 'ipv6', 'ipx'),
    local_addr: address,
    remote_addr: address,
    local_port: fc.oneof(fc.nat({ max: 0xffff }), fc.nat()),
    remote_port: fc.nat({ max: 0xffff }),
    reason: nastyText,
    comm: nastyText,
    sock_cookie: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(String),
    pod_name: nastyText,
    pod_labels: fc.dictionary(nastyText, nastyText, { maxKeys: 3 }),
    rst_ttl: fc.option(fc.nat({ max: 300 }), { nil: undefined }),
    conn_age_ms: fc.option(fc.double({ noNaN: true, min: 0, max: 1e12 }), { nil: undefined }),
  })
  .map((fields) => {
    const e = closedPortWireEvent(fields);
    if (fields.rst_ttl === undefined) delete e.rst_ttl;
    if (fields.conn_age_ms === undefined) delete e.conn_age_ms;
    return e;
  });

function batchOf(host: string, events: readonly WireResetEvent[], runId = '3'): Buffer {
  const builder = new BatchBuilder(
    { host, bootId: 'boot-1', runId },
    { maxEvents: 1_000_000, maxBytes: 1 << 30, maxDelayMs: 200 },
  );
  // Limits far above any case here: one batch of all the events.
  for (const e of events) expect(builder.add(e, 0)).toHaveLength(0);
  return builder.flush()?.bytes ?? Buffer.alloc(0);
}

/** What can happen to a message on its way: bits flipped, cut short, bytes inserted or lost. */
type Mutation = (bytes: Buffer) => Buffer;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, x]): Mutation => (b) => {
    if (!b.length) return b;
    const c = Buffer.from(b);
    c[at % c.length] ^= x;
    return c;
  }),
  fc.nat().map(
    (at): Mutation =>
      (b) =>
        b.subarray(0, at % (b.length + 1)),
  ),
  fc
    .tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 12 }))
    .map(([at, bytes]): Mutation => (b) => {
      const i = at % (b.length + 1);
      return Buffer.concat([b.subarray(0, i), bytes, b.subarray(i)]);
    }),
  fc.tuple(fc.nat(), fc.nat({ max: 16 })).map(([at, n]): Mutation => (b) => {
    const i = at % (b.length + 1);
    return Buffer.concat([b.subarray(0, i), b.subarray(i + n)]);
  }),
  // A varint pushed to its widest, or a length prefix made huge.
  fc.nat().map((at): Mutation => (b) => {
    const i = at % (b.length + 1);
    return Buffer.concat([
      b.subarray(0, i),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]),
      b.subarray(i),
    ]);
  }),
);

const mutatedBatch = fc
  .tuple(fc.array(wireEvent, { minLength: 1, maxLength: 4 }), fc.array(mutation, { maxLength: 3 }))
  .map(([events, mutations]) => mutations.reduce((b, m) => m(b), batchOf(HOST, events)));

/** Refused with a kind and one line, or accepted with rows the insert can use. */
function expectSound(v: Validated, format: InsertFormat): void {
  if (v.kind === 'refused') {
    expect(v.detail.length).toBeGreaterThan(0);
    return;
  }
  if (v.kind !== 'resets') return;
  if (format === 'tsv') {
    const batch = v.batch as ResetBatchTsv;
    expect(batch.lines).toHaveLength(batch.rows);
    for (const line of batch.lines) {
      expect(line.endsWith('\n') && line.indexOf('\n') === line.length - 1).toBe(true);
      expect(line.split('\t')).toHaveLength(RESET_TSV_COLUMNS.length);
    }
  } else {
    expect((v.batch as ResetBatchNative).block()).toBeInstanceOf(Buffer);
  }
}

/** The events of an accepted batch, read by protobufjs instead, are valid ones. */
function expectValidEvents(bytes: Uint8Array, rows: number): void {
  let decoded;
  try {
    decoded = resetBatchCodec.decode(bytes);
  } catch {
    return; // The collector's own reader is the one that counts; protobufjs is stricter.
  }
  expect(decoded.events).toHaveLength(rows);
  for (const e of decoded.events) {
    expect(['sent', 'received']).toContain(e.direction);
    expect(['ipv4', 'ipv6']).toContain(e.family);
    expect(isIP(e.local_addr) * isIP(e.remote_addr)).toBeGreaterThan(0);
    expect(Math.max(e.local_port, e.remote_port)).toBeLessThanOrEqual(0xffff);
    expect(e.rst_ttl ?? 0).toBeLessThanOrEqual(0xff);
    expect(e.ts_unix_ns).not.toBe('0');
  }
}

let dir = '';
let storage: Storage | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rstscope-props-ingest-'));
  storage = await openEmbeddedStorage(join(dir, 'data'));
}, 60_000);

afterAll(async () => {
  await storage?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function insertAccepted(bytes: Buffer): Promise<number> {
  let inserted = 0;
  for (const format of FORMATS) {
    const v = validateMessage(resetsSubject(HOST), bytes, undefined, undefined, format);
    if (v.kind !== 'resets' || v.batch.rows === 0) continue;
    if (format === 'native') {
      const batch = v.batch as ResetBatchNative;
      await storage!.insertNative!('resets', RESET_NATIVE_COLUMNS, [batch.block()], batch.rows);
    } else {
      await storage!.insertTsv(
        'resets',
        RESET_TSV_COLUMNS,
        (v.batch as ResetBatchTsv).lines.join(''),
      );
    }
    inserted += v.batch.rows;
  }
  return inserted;
}

/** Any u64 moved into what DateTime64(9) holds and the readers take: [1e18, 2^63) ns. */
function storableTime(ns: string): string {
  const first = 10n ** 18n;
  return String(first + (BigInt(ns) % ((1n << 63n) - first)));
}

const QUERY_REQUESTS = Object.values(grpcServiceDefinition('rstscope.v1.Query'));
const CODECS = ['ResetBatch', 'AgentHeartbeat', 'ResetEvent'].map((t) =>
  codecFor(`rstscope.v1.${t}`),
);

propertySuite('collector ingest on arbitrary and mutated messages', [
  {
    name: 'arbitrary bytes on any of our subjects: accepted soundly or refused, never a throw',
    runs: 600,
    property: () =>
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom(resetsSubject(HOST), agentsSubject(HOST), 'rstscope.v1.other.x', 'a.b'),
        (bytes, subject) => {
          for (const format of FORMATS) {
            const v = validateMessage(subject, bytes, undefined, undefined, format);
            expectSound(v, format);
          }
        },
      ),
  },
  {
    name: 'mutated batches: refused with a reason, or accepted with valid events',
    runs: 500,
    property: () =>
      fc.property(mutatedBatch, (bytes) => {
        for (const format of FORMATS) {
          const v = validateMessage(resetsSubject(HOST), bytes, undefined, undefined, format);
          expectSound(v, format);
          if (v.kind === 'resets') expectValidEvents(bytes, v.batch.rows);
        }
      }),
  },
  {
    name: 'mutated batches: the Native and the TSV reader accept the same messages',
    runs: 500,
    property: () =>
      fc.property(mutatedBatch, (bytes) => {
        const [native, tsv] = FORMATS.map(
          (format) =>
            validateMessage(resetsSubject(HOST), bytes, undefined, undefined, format).kind,
        );
        expect(tsv).toBe(native);
      }),
  },
  {
    name: 'a refusal names the problem in one line',
    runs: 300,
    property: () =>
      fc.property(nastyText, fc.boolean(), (text, inDirection) => {
        const event = closedPortWireEvent(inDirection ? { direction: text } : { family: text });
        const bytes = batchOf(HOST, [event]);
        for (const format of FORMATS) {
          const v = validateMessage(resetsSubject(HOST), bytes, undefined, undefined, format);
          if (v.kind === 'refused') expect(v.detail).not.toMatch(/[\n\r]/);
        }
      }),
  },
  {
    name: 'what the readers accept, the real store takes (chDB, Native and TSV)',
    runs: 40,
    property: () =>
      fc.asyncProperty(mutatedBatch, async (bytes) => {
        await insertAccepted(bytes);
      }),
  },
  {
    name: 'a batch is accepted only on its own host subject, refused as host_mismatch elsewhere',
    runs: 300,
    property: () =>
      fc.property(
        agentHost,
        agentHost,
        fc.array(wireEvent, { maxLength: 2 }),
        (own, other, events) => {
          const valid = events.map((e) =>
            closedPortWireEvent({ ts_unix_ns: storableTime(e.ts_unix_ns) }),
          );
          const bytes = batchOf(own, valid);
          for (const format of FORMATS) {
            const mine = validateMessage(resetsSubject(own), bytes, undefined, undefined, format);
            if (valid.length) expect(mine.kind).toBe('resets');
            const theirs = validateMessage(
              resetsSubject(other),
              bytes,
              undefined,
              undefined,
              format,
            );
            if (own !== other && valid.length) {
              expect(theirs.kind === 'refused' && theirs.refusal).toBe('host_mismatch');
            }
          }
        },
      ),
  },
  {
    name: 'a message over the limit is refused as oversize, whatever it holds',
    runs: 200,
    property: () =>
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.nat({ max: 199 }),
        fc.constantFrom(resetsSubject(HOST), agentsSubject(HOST)),
        (bytes, limit, subject) => {
          fc.pre(bytes.length > limit);
          for (const format of FORMATS) {
            const v = validateMessage(subject, bytes, limit, undefined, format);
            expect(v.kind === 'refused' && v.refusal).toBe('oversize');
          }
        },
      ),
  },
  {
    name: 'proto codecs: any bytes decode or throw MessageDecodeError, nothing else',
    runs: 500,
    property: () =>
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const codec of CODECS) {
          try {
            codec.decode(bytes);
          } catch (err) {
            expect(err).toBeInstanceOf(MessageDecodeError);
          }
        }
        for (const method of QUERY_REQUESTS) {
          try {
            method.requestDeserialize(Buffer.from(bytes));
          } catch (err) {
            expect(err).toBeInstanceOf(MessageDecodeError);
          }
        }
      }),
  },
]);

// One real oversize batch: a legitimate batch just past NATS's payload limit.
propertySuite('collector ingest: the message limit', [
  {
    name: 'a valid batch just over MAX_MESSAGE_BYTES is refused, at its own size accepted',
    runs: 1,
    property: () =>
      fc.property(fc.constant(null), () => {
        const event = (i: number) =>
          closedPortWireEvent({ comm: 'x'.repeat(15), local_port: 40_000 + (i % 2) });
        // Every event encodes to the same size: as many as take the batch just past the limit.
        const one = batchOf(HOST, [event(0), event(1)]).length - batchOf(HOST, [event(0)]).length;
        const n = Math.ceil((MAX_MESSAGE_BYTES - batchOf(HOST, [event(0)]).length) / one) + 2;
        const bytes = batchOf(
          HOST,
          Array.from({ length: n }, (_, i) => event(i)),
        );
        expect(bytes.length).toBeGreaterThan(MAX_MESSAGE_BYTES);
        for (const format of FORMATS) {
          const over = validateMessage(
            resetsSubject(HOST),
            bytes,
            MAX_MESSAGE_BYTES,
            undefined,
            format,
          );
          expect(over.kind === 'refused' && over.refusal).toBe('oversize');
          const at = validateMessage(resetsSubject(HOST), bytes, bytes.length, undefined, format);
          expect(at.kind).toBe('resets');
        }
      }),
  },
]);
