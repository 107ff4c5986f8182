// The collector's hot path, protobuf → TSV → ClickHouse, on a real embedded
// ClickHouse (chDB): every wire field comes back as it was sent, the pod's
// labels (a protobuf map) included, with the bytes that break a TSV row or a
// quoted string in them; both ends by name are empty cells without a namer.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FLOW_END_COLUMNS,
  RESET_TSV_COLUMNS,
  readResetBatchTsv,
} from '../collector/ingest/reset-batch-tsv.js';
import type { Storage } from '../collector/storage/storage.js';
import { RESETS } from '../collector/storage/tables.js';
import { messageType } from '../proto/codec.js';
import { resetBatchCodec } from '../proto/index.js';
import type { WireResetEvent } from '../proto/index.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import { EVERY_FIELD } from './lab/every-field-event.js';
import { ingestBatch } from './lab/ingest-batch.js';

let dir: string;
let storage: Storage;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rstscope-batch-tsv-'));
  storage = await openEmbeddedStorage(dir);
});

afterAll(async () => {
  await storage?.close();
  rmSync(dir, { recursive: true, force: true });
});

function batchBytes(seq: number, events: WireResetEvent[]): Uint8Array {
  return resetBatchCodec.encode({
    host: 'tsv-host',
    boot_id: 'boot',
    run_id: '1',
    seq: String(seq),
    events,
  });
}

const ingest = (seq: number, events: WireResetEvent[]) =>
  ingestBatch(storage, 'tsv-host', seq, events);

/** A stored row in the wire event's form: ClickHouse's text forms turned back. */
function asWireEvent(row: Record<string, unknown>): Record<string, unknown> {
  const event: Record<string, unknown> = {};
  for (const field of messageType('rstscope.v1.ResetEvent').fieldsArray) {
    if (field.name === 'ts_unix_ns') continue;
    const value = row[field.name];
    if (value === null) continue;
    event[field.name] = value;
  }
  // "YYYY-MM-DD hh:mm:ss.nnnnnnnnn" in UTC → nanoseconds.
  const [seconds = '', nanos = ''] = (row.ts as string).split('.');
  event.ts_unix_ns = `${BigInt(Date.parse(`${seconds.replace(' ', 'T')}Z`) / 1000) * 1_000_000_000n + BigInt(nanos)}`;
  event.local_addr = (row.local_addr as string).replace(/^::ffff:/, '');
  event.remote_addr = (row.remote_addr as string).replace(/^::ffff:/, '');
  return event;
}

describe('a reset batch read into TSV', () => {
  it('names every column of resets: the wire fields, both ends, the batch identity', () => {
    const stored = RESETS.columns.map((c) => c.name).filter((n) => n !== 'inserted_at');
    expect([...RESET_TSV_COLUMNS].sort()).toEqual([...stored].sort());
    expect(FLOW_END_COLUMNS).toEqual([
      'local_kind',
      'local_namespace',
      'local_name',
      'local_workload',
      'local_services',
      'remote_kind',
      'remote_namespace',
      'remote_name',
      'remote_workload',
      'remote_services',
    ]);
  });

  it('the test event sets every wire field, so a new field cannot go untested', () => {
    const defaults = resetBatchCodec.decode(batchBytes(1, [{} as WireResetEvent])).events[0]!;
    for (const field of messageType('rstscope.v1.ResetEvent').fieldsArray) {
      const name = field.name as keyof WireResetEvent;
      expect(EVERY_FIELD[name], name).not.toEqual(defaults[name]);
      expect(EVERY_FIELD[name], name).not.toBeUndefined();
    }
  });

  it('stores every wire field as it was sent, labels with tabs, newlines, quotes and backslashes included', async () => {
    const minimal = { ...EVERY_FIELD, pod_labels: {}, comm: 'plain' } as WireResetEvent;
    for (const key of [
      'drop_reason',
      'last_sent_ms',
      'conn_age_ms',
      'trigger_flags',
      'rst_ttl',
      'survived_idle_ms',
    ] as const) {
      delete minimal[key];
    }
    await ingest(1, [EVERY_FIELD, minimal]);
    const rows = await storage.query(
      "SELECT * FROM resets WHERE batch_id = 'tsv-host/boot/1/1' ORDER BY batch_index",
    );
    expect(rows).toHaveLength(2);
    // The codec's reading of the very bytes sent: 64-bit integers as text, maps as objects.
    const sent = resetBatchCodec.decode(batchBytes(1, [EVERY_FIELD, minimal])).events;
    expect(asWireEvent(rows[0]!)).toEqual({ ...sent[0] });
    expect(asWireEvent(rows[1]!)).toEqual({ ...sent[1] });
    expect(rows[0]!.pod_labels).toEqual(EVERY_FIELD.pod_labels);
    expect(rows[1]!.pod_labels).toEqual({});
    // No namer: both ends are empty, not absent.
    for (const row of rows) {
      expect(Object.fromEntries(FLOW_END_COLUMNS.map((c) => [c, row[c]]))).toEqual({
        local_kind: '',
        local_namespace: '',
        local_name: '',
        local_workload: '',
        local_services: [],
        remote_kind: '',
        remote_namespace: '',
        remote_name: '',
        remote_workload: '',
        remote_services: [],
      });
    }
  });

  it('a repeated map key keeps its last value, as protobuf says', async () => {
    // Two encodings of one label concatenated: field 55, entries "k"→"first" then "k"→"last".
    const entry = (value: string) => {
      const key = Buffer.from([0x0a, 1, 0x6b]);
      const val = Buffer.concat([Buffer.from([0x12, value.length]), Buffer.from(value)]);
      const body = Buffer.concat([key, val]);
      return Buffer.concat([Buffer.from([0xba, 0x03, body.length]), body]);
    };
    const EVENT = messageType('rstscope.v1.ResetEvent');
    const withEntries = Buffer.concat([
      EVENT.encode(EVENT.fromObject({ ...EVERY_FIELD, pod_labels: {} })).finish(),
      entry('first'),
      entry('last'),
    ]);
    const header = Buffer.from(
      resetBatchCodec.encode({
        host: 'tsv-host',
        boot_id: 'boot',
        run_id: '1',
        seq: '2',
        events: [],
      }),
    );
    const length = Buffer.from(varint(withEntries.length));
    const bytes = Buffer.concat([header, Buffer.from([0x2a]), length, withEntries]);
    const read = readResetBatchTsv(bytes);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    const cells = read.batch.lines[0]!.split('\t');
    expect(cells[RESET_TSV_COLUMNS.indexOf('pod_labels')]).toBe("{'k':'last'}");
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
