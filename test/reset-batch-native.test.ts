// The collector's hot path on chDB, protobuf → Native block → ClickHouse: the
// same batch stored through Native and through TSV (the ClickHouse-server
// path, checked field by field in reset-batch-tsv.test.ts) gives identical
// rows, column by column, with tricky text, IPv6, 64-bit extremes, absent
// optional fields, repeated map keys and both ends named; both readers refuse
// the same bad batches with the same words.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetsNativeBlock } from '../collector/ingest/native-reset-block.js';
import {
  RESET_NATIVE_COLUMNS,
  readResetBatchNative,
} from '../collector/ingest/reset-batch-native.js';
import { RESET_TSV_COLUMNS, readResetBatchTsv } from '../collector/ingest/reset-batch-tsv.js';
import type { FlowEvent, FlowEnds } from '../collector/k8s/flow-ends.js';
import type { Storage } from '../collector/storage/storage.js';
import { messageType } from '../proto/codec.js';
import { resetBatchCodec } from '../proto/index.js';
import type { WireResetEvent } from '../proto/index.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import { EVERY_FIELD, NOW_NS, TRICKY as SHARED_TRICKY } from './lab/every-field-event.js';

/** The shared tricky text, with characters outside Latin-1 too. */
const TRICKY = `${SHARED_TRICKY}, 日本`;

/** Every field set, with the extremes of the narrow columns and tricky text in the map. */
const FULL: WireResetEvent = {
  ...EVERY_FIELD,
  local_port: 65535,
  remote_addr: '0.0.0.0',
  netns: 4294967295,
  comm: TRICKY,
  last_recv_ms: 0,
  container_name: TRICKY,
  pod_labels: { app: 'checkout', [TRICKY]: TRICKY, empty: '', "it's": 'a\\b' },
};

/** Proto3 defaults everywhere but what validation needs; every optional field absent. */
const SPARSE = {
  ts_unix_ns: String(NOW_NS + 1n),
  direction: 'sent',
  family: 'ipv6',
  local_addr: '2001:db8::1',
  remote_addr: '::ffff:192.0.2.1',
} as WireResetEvent;

const VARIED: WireResetEvent[] = Array.from({ length: 300 }, (_, i) => ({
  ...FULL,
  ts_unix_ns: String(NOW_NS + BigInt(i) * 1_000_003n),
  direction: i % 2 ? 'received' : 'sent',
  family: i % 3 ? 'ipv4' : 'ipv6',
  local_addr: i % 3 ? `10.1.${i >> 8}.${i & 255}` : `fe80::${i.toString(16)}:1`,
  remote_addr: i % 3 ? '192.0.2.7' : `2001:db8:0:0:1:2:3:${i.toString(16)}`,
  comm: i % 5 ? `worker-${i}` : TRICKY,
  sock_cookie: String(2n ** 63n + BigInt(i)),
  pod_labels: (i % 4 ? {} : { app: `a${i}`, tier: 'web' }) as Record<string, string>,
  ...(i % 2 ? {} : { rst_ttl: undefined, conn_age_ms: undefined, drop_reason: undefined }),
}));

/** Names both ends from the event, so every end column carries text or services. */
function namer(event: FlowEvent): FlowEnds {
  if (event.remote_port === 1) throw new Error('a namer that fails');
  return {
    local: {
      kind: 'pod',
      namespace: event.pod_namespace,
      name: `${event.pod_name}@${event.ts_unix_ns}`,
      workload: event.workload,
      services: event.local_port % 2 ? ['shop/checkout', TRICKY] : [],
    },
    remote: {
      kind: event.remote_addr.includes(':') ? 'inventory' : 'service',
      namespace: '',
      name: `${event.remote_addr}:${event.remote_port}`,
      workload: TRICKY,
      services: ['ns/a'],
    },
  };
}

let dir: string;
let storage: Storage;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rstscope-batch-native-'));
  storage = await openEmbeddedStorage(dir);
});

afterAll(async () => {
  await storage?.close();
  rmSync(dir, { recursive: true, force: true });
});

function batchBytes(host: string, seq: number, events: WireResetEvent[]): Uint8Array {
  return resetBatchCodec.encode({ host, boot_id: 'boot', run_id: '7', seq: String(seq), events });
}

/** The same bytes into `resets` twice: as TSV under one host, as Native under another. */
async function storeBoth(seq: number, bytes: (host: string) => Uint8Array, named: boolean) {
  const tsv = readResetBatchTsv(bytes('via-tsv'), named ? namer : undefined);
  const native = readResetBatchNative(bytes('via-native'), named ? namer : undefined);
  if (!tsv.ok || !native.ok) throw new Error('both readers accept the batch');
  expect(native.batch.rows).toBe(tsv.batch.rows);
  expect(native.batch.firstTs).toBe(tsv.batch.firstTs);
  expect(native.batch.lastTs).toBe(tsv.batch.lastTs);
  await storage.insertTsv('resets', RESET_TSV_COLUMNS, tsv.batch.lines.join(''));
  await storage.insertNative!(
    'resets',
    RESET_NATIVE_COLUMNS,
    [native.batch.block()],
    native.batch.rows,
  );
  const rows = (host: string) =>
    storage.query<Record<string, unknown>>(
      `SELECT * EXCEPT (host, batch_id, inserted_at) FROM resets
       WHERE host = {host:String} AND batch_id LIKE {seq:String} ORDER BY batch_index`,
      { host, seq: `%/7/${seq}` },
    );
  return { viaTsv: await rows('via-tsv'), viaNative: await rows('via-native') };
}

describe('a reset batch written as a Native block', () => {
  it('has every column of resets, typed as the table but for LowCardinality', () => {
    expect(RESET_NATIVE_COLUMNS.map((c) => c.name)).toEqual(RESET_TSV_COLUMNS);
    const types = Object.fromEntries(RESET_NATIVE_COLUMNS.map((c) => [c.name, c.type]));
    expect(Object.values(types).join()).not.toContain('LowCardinality');
    expect(types.ts).toBe("DateTime64(9, 'UTC')");
    expect(types.pod_labels).toBe('Map(String, String)');
    expect(types.drop_reason).toBe('Nullable(String)');
    expect(types.remote_services).toBe('Array(String)');
  });

  it('stores the same rows as TSV, column by column, with and without naming', async () => {
    const events = [FULL, SPARSE, ...VARIED, { ...FULL, remote_port: 1 }];
    for (const [seq, named] of [
      [1, false],
      [2, true],
    ] as const) {
      const { viaTsv, viaNative } = await storeBoth(
        seq,
        (host) => batchBytes(host, seq, events),
        named,
      );
      expect(viaNative).toHaveLength(events.length);
      for (let i = 0; i < events.length; i++) expect(viaNative[i], `row ${i}`).toEqual(viaTsv[i]);
    }
  });

  it('sets what the check relies on: named ends, nulls, IPv6, labels', async () => {
    const { viaNative } = await storeBoth(3, (host) => batchBytes(host, 3, [FULL, SPARSE]), true);
    expect(viaNative[0]!.local_services).toEqual(['shop/checkout', TRICKY]);
    expect(viaNative[0]!.comm).toBe(TRICKY);
    expect(viaNative[0]!.pod_labels).toEqual(FULL.pod_labels);
    expect(viaNative[0]!.sock_cookie).toBe('18446744073709551615');
    expect(viaNative[1]!.local_addr).toBe('2001:db8::1');
    expect(viaNative[1]!.remote_addr).toBe('::ffff:192.0.2.1');
    expect(viaNative[1]!.drop_reason).toBeNull();
    expect(viaNative[1]!.last_recv_ms).toBeNull();
    expect(viaNative[1]!.pod_labels).toEqual({});
  });

  it('a repeated map key keeps its place and its last value, as in TSV', async () => {
    const EVENT = messageType('rstscope.v1.ResetEvent');
    const entry = (key: string, value: string) => {
      const body = Buffer.concat([
        Buffer.from([0x0a, key.length]),
        Buffer.from(key),
        Buffer.from([0x12, value.length]),
        Buffer.from(value),
      ]);
      return Buffer.concat([Buffer.from([0xba, 0x03, body.length]), body]);
    };
    const event = Buffer.concat([
      EVENT.encode(EVENT.fromObject({ ...FULL, pod_labels: {} })).finish(),
      entry('k', 'first'),
      entry('j', 'other'),
      entry('k', 'last'),
    ]);
    const bytes = (host: string) =>
      Buffer.concat([
        Buffer.from(batchBytes(host, 4, [])),
        Buffer.from([0x2a, ...varint(event.length)]),
        event,
      ]);
    const { viaTsv, viaNative } = await storeBoth(4, bytes, false);
    expect(viaNative[0]!.pod_labels).toEqual({ k: 'last', j: 'other' });
    expect(viaNative).toEqual(viaTsv);
  });

  it('leaves out the rows its filter refuses (the de-duplication of a redelivery)', async () => {
    const read = readResetBatchNative(batchBytes('via-filter', 5, VARIED.slice(0, 10)));
    if (!read.ok) throw new Error(read.problem);
    expect(read.batch.block(() => false)).toHaveLength(0);
    await storage.insertNative!(
      'resets',
      RESET_NATIVE_COLUMNS,
      [read.batch.block((i) => i % 3 === 0)],
      4,
    );
    const rows = await storage.query<{ batch_index: number }>(
      "SELECT batch_index FROM resets WHERE host = 'via-filter' ORDER BY batch_index",
    );
    expect(rows.map((r) => r.batch_index)).toEqual([0, 3, 6, 9]);
    // The spool file is gone once the insert is done.
    expect(readdirSync(join(dir, 'insert-spool'))).toEqual([]);
  });

  it('writes several batches as one block (an insert), offsets running on across them', async () => {
    // Labels, services and nulls in every batch: their offsets continue from one
    // batch to the next; the middle batch loses rows to a filter, the last all.
    const batches = [
      { seq: 11, events: [FULL, SPARSE, ...VARIED.slice(0, 50)], keep: undefined },
      {
        seq: 12,
        events: [SPARSE, FULL, ...VARIED.slice(50, 120), FULL],
        keep: (i: number) => i % 3 !== 1,
      },
      { seq: 13, events: [FULL], keep: () => false },
      { seq: 14, events: [...VARIED.slice(120, 200), SPARSE, FULL], keep: undefined },
    ];
    const read = (host: string) =>
      batches.map(({ seq, events }) => {
        const r =
          host === 'multi-tsv'
            ? readResetBatchTsv(batchBytes(host, seq, events), namer)
            : readResetBatchNative(batchBytes(host, seq, events), namer);
        if (!r.ok) throw new Error(r.problem);
        return r.batch;
      });
    const tsv = read('multi-tsv') as Extract<
      ReturnType<typeof readResetBatchTsv>,
      { ok: true }
    >['batch'][];
    const native = read('multi-native') as Extract<
      ReturnType<typeof readResetBatchNative>,
      { ok: true }
    >['batch'][];
    let text = '';
    tsv.forEach((b, n) =>
      b.lines.forEach((line, i) => ((batches[n]!.keep?.(i) ?? true) ? (text += line) : undefined)),
    );
    await storage.insertTsv('resets', RESET_TSV_COLUMNS, text);
    const pieces = resetsNativeBlock(native.map((b, n) => b.part(batches[n]!.keep)));
    const rows = text.split('\n').length - 1;
    await storage.insertNative!('resets', RESET_NATIVE_COLUMNS, pieces, rows);
    const stored = (host: string) =>
      storage.query<Record<string, unknown>>(
        `SELECT * EXCEPT (host, batch_id, inserted_at), splitByChar('/', batch_id)[4] AS seq
         FROM resets WHERE host = {host:String} ORDER BY toUInt32(seq), batch_index`,
        { host },
      );
    const [viaTsv, viaNative] = [await stored('multi-tsv'), await stored('multi-native')];
    expect(viaNative).toHaveLength(rows);
    expect(new Set(viaNative.map((r) => r.seq))).toEqual(new Set(['11', '12', '14']));
    for (let i = 0; i < rows; i++) expect(viaNative[i], `row ${i}`).toEqual(viaTsv[i]);
    expect(resetsNativeBlock([native[2]!.part(() => false)])).toEqual([]);
  });

  it('refuses what the TSV reader refuses, with the same words', () => {
    const good = Buffer.from(batchBytes('h', 1, [FULL, FULL]));
    const bad: [string, Uint8Array][] = [
      ['truncated', good.subarray(0, good.length - 5)],
      ['garbage', Buffer.from([0xff, 0xff, 0xff])],
      ['no host', batchBytes('', 1, [FULL])],
      [
        'seq 0',
        resetBatchCodec.encode({ host: 'h', boot_id: 'b', run_id: '1', seq: '0', events: [] }),
      ],
      ['direction', batchBytes('h', 1, [FULL, { ...FULL, direction: 'sideways' }])],
      ['family', batchBytes('h', 1, [{ ...FULL, family: 'ipx' }])],
      ['address', batchBytes('h', 1, [{ ...FULL, remote_addr: '10.0.0.256' }])],
      ['leading zero', batchBytes('h', 1, [{ ...FULL, local_addr: '10.01.0.1' }])],
      ['no address', batchBytes('h', 1, [{ ...FULL, local_addr: '' }])],
      ['name', batchBytes('h', 1, [{ ...FULL, remote_addr: 'example.com' }])],
      ['port', batchBytes('h', 1, [{ ...FULL, remote_port: 65536 }])],
      ['ttl', batchBytes('h', 1, [{ ...FULL, peer_ttl: 256 }])],
      ['window', batchBytes('h', 1, [{ ...FULL, rst_window: 70000 }])],
    ];
    for (const [what, bytes] of bad) {
      const tsv = readResetBatchTsv(bytes);
      const native = readResetBatchNative(bytes);
      expect(native.ok, what).toBe(false);
      if (native.ok || tsv.ok) continue;
      expect(native.kind, what).toBe(tsv.kind);
      if (native.kind !== 'undecodable') expect(native.problem, what).toBe(tsv.problem);
    }
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
