// A ResetBatch read straight from its protobuf bytes into TSV lines for the
// `resets` table: no message objects, no JSON. This is the collector's hot path
// (tens of thousands of events a second); the generic codec is for everything else.
// The columns are the wire event's fields in field-number order, then both ends
// of the flow by name (computed here, not on the wire), which the TSV insert
// names explicitly, so the table's own column order does not matter.
import protobuf from 'protobufjs';
import { messageType } from '../../proto/codec.js';
import type { FlowEnd } from '../../proto/index.js';
import { batchId } from '../../proto/nats-topology.js';
import type { FlowEvent, NameFlowEnds } from '../k8s/flow-ends.js';
import { columnIpVersion } from './ip-bytes.js';
import { WIRE_TYPE } from './reset-scan.js';
import { TIMESTAMP_TOO_EARLY, TIMESTAMP_TOO_LATE, shownValue } from './shown-value.js';

const EVENT = messageType('rstscope.v1.ResetEvent');

interface FieldSpec {
  name: string;
  /** For a map field, the type of its values (its keys are strings). */
  type: string;
  optional: boolean;
  map: boolean;
  /** The wire type the field must arrive with (a map's entries are messages). */
  wire: number;
}

/** Field number → spec, for numbers 1..max. */
const FIELDS: (FieldSpec | undefined)[] = [];
for (const f of EVENT.fieldsArray) {
  FIELDS[f.id] = {
    name: f.name,
    type: f.type,
    optional: Boolean(f.options?.proto3_optional),
    map: f.map,
    wire: f.map ? 2 : WIRE_TYPE[f.type]!,
  };
}
const FIELD_IDS = EVENT.fieldsArray.map((f) => f.id).sort((a, b) => a - b);
/** Every field but the timestamp (field 1), which leads the row. */
const OTHER_FIELD_IDS = FIELD_IDS.filter((id) => id !== 1);
/** Fields whose value is kept as read and escaped when the line is written. */
const TEXT: boolean[] = FIELDS.map((spec) => spec?.type === 'string' && !spec.map);
/** An event before its fields are read: proto3 zero values, null for `optional` fields. */
const UNSET: readonly (string | null)[] = FIELDS.map((spec) =>
  spec && !spec.optional ? zero(spec) : null,
);

/** Both ends of the flow by name: collector-derived columns, not wire fields. */
export const FLOW_END_COLUMNS = (['local', 'remote'] as const).flatMap((end) =>
  ['kind', 'namespace', 'name', 'workload', 'services'].map((part) => `${end}_${part}`),
);

/** The TSV's columns: the event's fields with ts first, both ends, and the batch identity. */
export const RESET_TSV_COLUMNS = [
  'ts',
  'host',
  'boot_id',
  ...OTHER_FIELD_IDS.map((id) => FIELDS[id]!.name),
  ...FLOW_END_COLUMNS,
  'batch_id',
  'batch_index',
];

/** The end cells without naming: four empty texts and an empty array, twice. */
const UNNAMED_CELLS = '\t\t\t\t[]\t\t\t\t\t[]';

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
  /** Events in the batch (lines.length). */
  rows: number;
  /** Earliest and latest event time as decimal seconds (for the de-duplication query). */
  firstTs: string;
  lastTs: string;
}

export interface ReadFailure {
  ok: false;
  kind: 'undecodable' | 'invalid_header' | 'invalid_event';
  problem: string;
}

export type ReadResult = { ok: true; batch: ResetBatchTsv } | ReadFailure;

/**
 * Reads one batch; with `nameEnds`, each event's ends are named as its row is
 * written (an end nobody knows, or a namer that fails, stays empty).
 */
/** ResetBatch's fields by number → their wire type: host, boot_id, run_id, seq, events. */
const BATCH_WIRE: (number | undefined)[] = [undefined, 2, 2, 0, 0, 2];

export function readResetBatchTsv(bytes: Uint8Array, nameEnds?: NameFlowEnds): ReadResult {
  const reader = protobuf.Reader.create(bytes);
  let host = '';
  let bootId = '';
  let runId = '0';
  let seq = '0';
  const events: (string | null)[][] = [];
  try {
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const wire = BATCH_WIRE[tag >>> 3];
      if (wire !== undefined && (tag & 7) !== wire) {
        throw new RangeError(`field ${tag >>> 3} has wire type ${tag & 7}`);
      }
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
          skipField(reader, tag);
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
    for (const fid of OTHER_FIELD_IDS) {
      const value = values[fid];
      line += value === null ? '\t\\N' : TEXT[fid] ? `\t${escape(value)}` : `\t${value}`;
    }
    const ends = nameEnds ? endCells(nameEnds, values) : UNNAMED_CELLS;
    lines.push(`${line}\t${ends}\t${idCell}\t${index}\n`);
  }
  return {
    ok: true,
    batch: { host, bootId, runId, seq, batchId: id, lines, rows: lines.length, firstTs, lastTs },
  };
}

/**
 * The event's fields by field number: strings as read (escaped when written),
 * everything else as its TSV cell; unset optional fields stay null.
 */
function readEvent(reader: protobuf.Reader, length: number): (string | null)[] {
  const end = within(reader, length, 'event');
  const values = UNSET.slice();
  let maps: Map<number, Map<string, string>> | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const id = tag >>> 3;
    const spec = FIELDS[id];
    if (!spec) {
      skipField(reader, tag);
      continue;
    }
    // As the Native reader and protobufjs: a field of ours in another wire type is no ResetEvent.
    if ((tag & 7) !== spec.wire) throw new RangeError(`field ${id} has wire type ${tag & 7}`);
    if (spec.map) {
      // One entry per occurrence; a repeated key keeps its last value, as protobuf says.
      maps ??= new Map();
      let entries = maps.get(id);
      if (!entries) maps.set(id, (entries = new Map()));
      readMapEntry(reader, reader.uint32(), entries);
      continue;
    }
    values[id] = readValue(reader, spec.type);
  }
  ended(reader, end, 'event');
  if (maps) for (const [id, entries] of maps) values[id] = mapCell(entries);
  return values;
}

/** Skips a field we do not read; groups (wire types 3, 4) and 6, 7 are refused, as the Native reader does. */
function skipField(reader: protobuf.Reader, tag: number): void {
  const wire = tag & 7;
  if (wire !== 0 && wire !== 1 && wire !== 2 && wire !== 5) {
    throw new RangeError(`wire type ${wire} is not used by rstscope`);
  }
  reader.skipType(wire);
}

/** Where a length-delimited part that starts here ends; it must end inside the message. */
function within(reader: protobuf.Reader, length: number, what: string): number {
  const end = reader.pos + length;
  if (end > reader.len) throw new RangeError(`${what} runs past the message`);
  return end;
}

/** The part's last field must end where the part does, not beyond it. */
function ended(reader: protobuf.Reader, end: number, what: string): void {
  if (reader.pos !== end) throw new RangeError(`a field runs past its ${what}`);
}

/** A map<string, string> entry: key = 1, value = 2. */
function readMapEntry(reader: protobuf.Reader, length: number, into: Map<string, string>): void {
  const end = within(reader, length, 'map entry');
  let key = '';
  let value = '';
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === 0x0a) key = reader.string();
    else if (tag === 0x12) value = reader.string();
    else skipField(reader, tag);
  }
  ended(reader, end, 'map entry');
  into.set(key, value);
}

/** ClickHouse's text form of a Map: {'key':'value',...}, strings quoted. */
function mapCell(entries: Map<string, string>): string {
  let cell = '{';
  for (const [key, value] of entries) {
    cell += `${cell.length > 1 ? ',' : ''}${quote(key)}:${quote(value)}`;
  }
  return `${cell}}`;
}

/** ClickHouse's text form of an Array(String): ['a','b']. */
function arrayCell(items: readonly string[]): string {
  if (items.length === 0) return '[]';
  let cell = '[';
  for (const item of items) cell += `${cell.length > 1 ? ',' : ''}${quote(item)}`;
  return `${cell}]`;
}

/**
 * A string inside a Map or Array cell: quoted, with backslash escapes for the
 * quote, the backslash and the bytes that would break the TSV row.
 */
function quote(text: string): string {
  return /[\\'\t\n\r]/.test(text)
    ? `'${text.replace(/[\\'\t\n\r]/g, (c) => QUOTED[c]!)}'`
    : `'${text}'`;
}

const QUOTED: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
};

/** The ten end cells of a valid event, named by `nameEnds`. */
function endCells(nameEnds: NameFlowEnds, v: (string | null)[]): string {
  const ts = v[ID.ts_unix_ns!]!;
  const event: FlowEvent = {
    // "seconds.nanoseconds" with nine digits after the point: the ns without it.
    ts_unix_ns: ts.slice(0, -10) + ts.slice(-9),
    local_addr: v[ID.local_addr!]!,
    local_port: Number(v[ID.local_port!]),
    remote_addr: v[ID.remote_addr!]!,
    remote_port: Number(v[ID.remote_port!]),
    pod_name: v[ID.pod_name!]!,
    pod_namespace: v[ID.pod_namespace!]!,
    workload: v[ID.workload!]!,
  };
  let ends;
  try {
    ends = nameEnds(event);
  } catch {
    // Naming is a convenience: a failure of it must not cost the row.
    return UNNAMED_CELLS;
  }
  return `${endCellsOf(ends.local)}\t${endCellsOf(ends.remote)}`;
}

function endCellsOf(end: FlowEnd): string {
  return `${escape(end.kind)}\t${escape(end.namespace)}\t${escape(end.name)}\t${escape(end.workload)}\t${arrayCell(end.services)}`;
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
      return reader.string();
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
  if (spec.map) return '{}';
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

/** 2^63 − 1 ns as readValue writes it: DateTime64(9)'s last instant. */
const LAST_TIMESTAMP = '9223372036.854775807';

/** Texts of "seconds.nanoseconds" with as many digits of seconds compare as their times. */
function afterLastTimestamp(ts: string): boolean {
  const seconds = ts.indexOf('.');
  return seconds > 10 || (seconds === 10 && ts > LAST_TIMESTAMP);
}

function eventProblem(v: (string | null)[]): string | undefined {
  if (v[ID.ts_unix_ns!] === '0.000000000') return 'no timestamp';
  const ts = v[ID.ts_unix_ns!]!;
  // ClickHouse reads "123456.000000000" as a malformed date, not seconds: times
  // before 2001 (10 digits of seconds) cannot go in as text.
  if (ts.indexOf('.') < 10) return TIMESTAMP_TOO_EARLY;
  // DateTime64(9) ends at 2^63 − 1 ns (2262): a later time would fail the insert for ever.
  if (afterLastTimestamp(ts)) return TIMESTAMP_TOO_LATE;
  const direction = v[ID.direction!];
  if (direction !== 'sent' && direction !== 'received') return `direction ${shownValue(direction)}`;
  const family = v[ID.family!];
  if (family !== 'ipv4' && family !== 'ipv6') return `family ${shownValue(family)}`;
  if (!columnIpVersion(v[ID.local_addr!]!) || !columnIpVersion(v[ID.remote_addr!]!))
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
