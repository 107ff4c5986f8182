// A ResetBatch read straight from its protobuf bytes into TSV lines for the
// `resets` table: no message objects, no JSON. This is the collector's hot path
// (tens of thousands of events a second); the generic codec is for everything else.
// The columns are the wire event's fields in field-number order, which the TSV
// insert names explicitly, so the table's own column order does not matter.
import { isIP } from 'node:net';
import protobuf from 'protobufjs';
import { messageType } from '../../proto/codec.js';
import { batchId } from '../../proto/nats-topology.js';

const EVENT = messageType('rstscope.v1.ResetEvent');

interface FieldSpec {
  name: string;
  type: string;
  optional: boolean;
}

/** Field number → spec, for numbers 1..max. */
const FIELDS: (FieldSpec | undefined)[] = [];
for (const f of EVENT.fieldsArray) {
  FIELDS[f.id] = { name: f.name, type: f.type, optional: Boolean(f.options?.proto3_optional) };
}
const FIELD_IDS = EVENT.fieldsArray.map((f) => f.id).sort((a, b) => a - b);
/** Every field but the timestamp (field 1), which leads the row. */
const OTHER_FIELD_IDS = FIELD_IDS.filter((id) => id !== 1);
/** An event before its fields are read: proto3 zero values, null for `optional` fields. */
const UNSET: readonly (string | null)[] = FIELDS.map((spec) =>
  spec && !spec.optional ? zero(spec) : null,
);

/** The TSV's columns: the event's fields with ts first, and the batch identity. */
export const RESET_TSV_COLUMNS = [
  'ts',
  'host',
  'boot_id',
  ...OTHER_FIELD_IDS.map((id) => FIELDS[id]!.name),
  'batch_id',
  'batch_index',
];

const ID = Object.fromEntries(EVENT.fieldsArray.map((f) => [f.name, f.id])) as Record<
  string,
  number
>;

export interface ResetBatchTsv {
  host: string;
  bootId: string;
  runId: string;
  seq: string;
  batchId: string;
  /** One TSV line per event, with its newline, in batch order (index = batch_index). */
  lines: string[];
  /** Earliest and latest event time as decimal seconds (for the de-duplication query). */
  firstTs: string;
  lastTs: string;
}

export type ReadResult =
  | { ok: true; batch: ResetBatchTsv }
  | { ok: false; kind: 'undecodable' | 'invalid_header' | 'invalid_event'; problem: string };

export function readResetBatchTsv(bytes: Uint8Array): ReadResult {
  const reader = protobuf.Reader.create(bytes);
  let host = '';
  let bootId = '';
  let runId = '0';
  let seq = '0';
  const events: (string | null)[][] = [];
  try {
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      switch (tag >>> 3) {
        case 1:
          host = reader.string();
          break;
        case 2:
          bootId = reader.string();
          break;
        case 3:
          runId = reader.uint64().toString();
          break;
        case 4:
          seq = reader.uint64().toString();
          break;
        case 5:
          events.push(readEvent(reader, reader.uint32()));
          break;
        default:
          reader.skipType(tag & 7);
      }
    }
  } catch (error) {
    return {
      ok: false,
      kind: 'undecodable',
      problem: `not a rstscope.v1.ResetBatch: ${(error as Error).message}`,
    };
  }
  if (!host || !bootId || runId === '0' || seq === '0') {
    return {
      ok: false,
      kind: 'invalid_header',
      problem: 'host, boot_id, run_id and seq ≥ 1 are required',
    };
  }
  const id = batchId(host, bootId, runId, seq);
  const hostCells = `${escape(host)}\t${escape(bootId)}`;
  const idCell = escape(id);
  const lines: string[] = [];
  let firstTs = '';
  let lastTs = '';
  for (const [index, values] of events.entries()) {
    const problem = eventProblem(values);
    if (problem) return { ok: false, kind: 'invalid_event', problem: `event ${index}: ${problem}` };
    const ts = values[ID.ts_unix_ns!]!;
    if (!firstTs || ts < firstTs) firstTs = ts;
    if (ts > lastTs) lastTs = ts;
    let line = `${ts}\t${hostCells}`;
    for (const fid of OTHER_FIELD_IDS) line += `\t${values[fid] ?? '\\N'}`;
    lines.push(`${line}\t${idCell}\t${index}\n`);
  }
  return { ok: true, batch: { host, bootId, runId, seq, batchId: id, lines, firstTs, lastTs } };
}

/** The event's fields as TSV cells by field number; unset optional fields stay null. */
function readEvent(reader: protobuf.Reader, length: number): (string | null)[] {
  const end = reader.pos + length;
  const values = UNSET.slice();
  while (reader.pos < end) {
    const tag = reader.uint32();
    const spec = FIELDS[tag >>> 3];
    if (!spec) {
      reader.skipType(tag & 7);
      continue;
    }
    values[tag >>> 3] = readValue(reader, spec.type);
  }
  return values;
}

function readValue(reader: protobuf.Reader, type: string): string {
  switch (type) {
    case 'fixed64': {
      // Nanoseconds since the epoch → "seconds.nanoseconds", which DateTime64(9) parses exactly.
      const lo = reader.fixed32();
      const hi = reader.fixed32();
      const ns = (BigInt(hi) << 32n) | BigInt(lo);
      return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
    }
    case 'uint64':
      return uint64Text(reader.uint64());
    case 'uint32':
      return String(reader.uint32());
    case 'bool':
      return reader.bool() ? 'true' : 'false';
    case 'double':
      return String(reader.double());
    default:
      return escape(reader.string());
  }
}

/**
 * A uint64 in decimal. Long's toString divides in a loop (a fifth of a
 * microsecond each, four such fields an event); below 2^53 a Number prints
 * the same digits, and counters, cookies and cgroup ids almost always are.
 */
function uint64Text(value: protobuf.Long): string {
  const high = value.high >>> 0;
  return high < 0x20_0000 ? String(high * 2 ** 32 + (value.low >>> 0)) : value.toString();
}

function zero(spec: FieldSpec): string {
  if (spec.type === 'string') return '';
  if (spec.type === 'bool') return 'false';
  return '0';
}

/** TSV escaping: backslash, tab and line breaks are the only bytes that break a row. */
function escape(text: string): string {
  return /[\\\t\n\r]/.test(text)
    ? text.replace(
        /[\\\t\n\r]/g,
        (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!,
      )
    : text;
}

function eventProblem(v: (string | null)[]): string | undefined {
  if (v[ID.ts_unix_ns!] === '0.000000000') return 'no timestamp';
  const direction = v[ID.direction!];
  if (direction !== 'sent' && direction !== 'received') return `direction ${direction}`;
  const family = v[ID.family!];
  if (family !== 'ipv4' && family !== 'ipv6') return `family ${family}`;
  if (!isIP(v[ID.local_addr!]!) || !isIP(v[ID.remote_addr!]!))
    return 'address is not an IP address';
  if (Number(v[ID.local_port!]) > 0xffff || Number(v[ID.remote_port!]) > 0xffff) {
    return 'port above 65535';
  }
  for (const name of ['rst_ttl', 'peer_ttl']) {
    if (Number(v[ID[name]!] ?? 0) > 0xff) return `${name} above 255`;
  }
  for (const name of ['rst_ip_id', 'rst_window']) {
    if (Number(v[ID[name]!] ?? 0) > 0xffff) return `${name} above 65535`;
  }
  return undefined;
}
