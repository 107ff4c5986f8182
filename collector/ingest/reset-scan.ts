// Where each ResetEvent field's value lies in a batch's protobuf bytes: one
// pass over each event notes the offsets in a table, and the validation, the
// naming and the Native column writers read values from there in place. No
// message objects, no per-field allocations.
import { messageType } from '../../proto/codec.js';
import type { FlowEnds } from '../k8s/flow-ends.js';
import { readVarint, skipValue, varintEnd } from './protobuf-scan.js';

export const EVENT = messageType('rstscope.v1.ResetEvent');

/** Field number by name. */
export const ID = Object.fromEntries(EVENT.fieldsArray.map((f) => [f.name, f.id])) as Record<
  string,
  number
>;
/** Slots per event in the position table: one per field number. */
export const STRIDE = Math.max(...EVENT.fieldsArray.map((f) => f.id)) + 1;
/** The wire type of each scalar type the schema uses. */
export const WIRE_TYPE: Record<string, number> = {
  fixed64: 1,
  double: 1,
  string: 2,
  uint64: 0,
  uint32: 0,
  bool: 0,
};
/** Field number → the wire type it must arrive with; -1: not a field of ours (skipped). */
const EXPECTED = new Int8Array(STRIDE).fill(-1);
/** Field number → 1 + its index in MAP_FIELDS for map<string, string> fields, else 0. */
const MAP_SLOT = new Uint8Array(STRIDE);
export const MAP_FIELDS: number[] = [];
for (const f of EVENT.fieldsArray) {
  if (f.map) {
    EXPECTED[f.id] = 2;
    MAP_FIELDS.push(f.id);
    MAP_SLOT[f.id] = MAP_FIELDS.length;
  } else {
    const wire = WIRE_TYPE[f.type];
    if (wire === undefined) throw new Error(`ResetEvent.${f.name}: type ${f.type} unsupported`);
    EXPECTED[f.id] = wire;
  }
}

/** Where one batch's values are in its message; -1: the field was absent. */
export interface Scan {
  bytes: Uint8Array;
  count: number;
  /** count × STRIDE: the offset of each field's value (after its tag). */
  at: Int32Array;
  /**
   * Every map entry of the batch as [keyStart, keyEnd, valueStart, valueEnd]
   * (the strings' bytes, without their lengths), one event's field after another:
   * one array per batch, not one per event, which the collector holds until
   * its insert and the garbage collector would otherwise trace.
   */
  mapEntries: number[];
  /** Per event and map field (count × MAP_FIELDS.length): [start, end) in mapEntries. */
  mapSpans: Int32Array;
  /** Each event's local and remote address as 16 IPv6 bytes (filled by the validation). */
  local: Uint8Array;
  remote: Uint8Array;
  ends: FlowEnds[] | undefined;
}

export function newScan(bytes: Uint8Array, count: number): Scan {
  return {
    bytes,
    count,
    at: new Int32Array(count * STRIDE).fill(-1),
    mapEntries: [],
    mapSpans: new Int32Array(count * MAP_FIELDS.length * 2),
    local: new Uint8Array(count * 16),
    remote: new Uint8Array(count * 16),
    ends: undefined,
  };
}

/** One event's entries per map field while it is read (reused: no array per event). */
const pendingEntries: number[][] = MAP_FIELDS.map(() => []);

/** Notes where each field of event `e` is; a repeated field keeps its last value, as protobuf says. */
export function scanEvent(scan: Scan, e: number, start: number, end: number): void {
  const { bytes, at } = scan;
  const base = e * STRIDE;
  for (const list of pendingEntries) list.length = 0;
  let pos = start;
  while (pos < end) {
    const tag = readVarint(bytes, pos, end);
    pos = varintEnd;
    const field = tag >>> 3;
    const wire = tag & 7;
    const expected = field < STRIDE ? EXPECTED[field]! : -1;
    if (expected < 0) {
      pos = skipValue(bytes, pos, end, wire);
      continue;
    }
    if (wire !== expected) throw new RangeError(`field ${field} has wire type ${wire}`);
    const next = skipValue(bytes, pos, end, wire);
    const slot = MAP_SLOT[field]!;
    if (slot) mapEntry(bytes, varintEnd, next, pendingEntries[slot - 1]!);
    else at[base + field] = pos;
    pos = next;
  }
  for (let k = 0; k < MAP_FIELDS.length; k++) {
    const span = (e * MAP_FIELDS.length + k) * 2;
    scan.mapSpans[span] = scan.mapEntries.length;
    for (const n of pendingEntries[k]!) scan.mapEntries.push(n);
    scan.mapSpans[span + 1] = scan.mapEntries.length;
  }
}

/** A map<string, string> entry (key = 1, value = 2); a repeated key keeps its place and its last value. */
function mapEntry(bytes: Uint8Array, start: number, end: number, list: number[]): void {
  let keyStart = start;
  let keyEnd = start;
  let valueStart = start;
  let valueEnd = start;
  let pos = start;
  while (pos < end) {
    const tag = readVarint(bytes, pos, end);
    pos = varintEnd;
    const next = skipValue(bytes, pos, end, tag & 7);
    if (tag === 0x0a) {
      keyStart = varintEnd;
      keyEnd = next;
    } else if (tag === 0x12) {
      valueStart = varintEnd;
      valueEnd = next;
    }
    pos = next;
  }
  for (let i = 0; i < list.length; i += 4) {
    if (sameBytes(bytes, list[i]!, list[i + 1]!, keyStart, keyEnd)) {
      list[i + 2] = valueStart;
      list[i + 3] = valueEnd;
      return;
    }
  }
  list.push(keyStart, keyEnd, valueStart, valueEnd);
}

export function sameBytes(
  bytes: Uint8Array,
  a: number,
  aEnd: number,
  b: number,
  bEnd: number,
): boolean {
  if (aEnd - a !== bEnd - b) return false;
  for (let i = 0; i < aEnd - a; i++) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}

/** Where the last string read by stringAt ends (module state: no tuple per value). */
export let stringEnd = 0;

/**
 * Where the string field's bytes start (the end in stringEnd); an absent field
 * is empty (0, 0).
 */
export function stringAt(scan: Scan, e: number, field: number): number {
  const pos = scan.at[e * STRIDE + field]!;
  if (pos < 0) {
    stringEnd = 0;
    return 0;
  }
  const length = readVarint(scan.bytes, pos, scan.bytes.length);
  stringEnd = varintEnd + length;
  return varintEnd;
}

/** A varint field's low 32 bits (0 when absent), as protobuf reads a uint32. */
export function uint32At(scan: Scan, e: number, field: number): number {
  const pos = scan.at[e * STRIDE + field]!;
  return pos < 0 ? 0 : readVarint(scan.bytes, pos, scan.bytes.length);
}

const TS = ID.ts_unix_ns!;

/** The timestamp's low half (fixed64, little-endian); 0 when absent. */
export function tsLow(scan: Scan, e: number): number {
  const pos = scan.at[e * STRIDE + TS]!;
  if (pos < 0) return 0;
  const b = scan.bytes;
  return (b[pos]! | (b[pos + 1]! << 8) | (b[pos + 2]! << 16) | (b[pos + 3]! << 24)) >>> 0;
}

/** The timestamp's high half; 0 when absent. */
export function tsHigh(scan: Scan, e: number): number {
  const pos = scan.at[e * STRIDE + TS]!;
  if (pos < 0) return 0;
  const b = scan.bytes;
  return (b[pos + 4]! | (b[pos + 5]! << 8) | (b[pos + 6]! << 16) | (b[pos + 7]! << 24)) >>> 0;
}
