// One writer per column of `resets` in ClickHouse's Native format, each
// writing its column for the rows of many batches at once (one block per
// insert). Values are copied from the protobuf bytes in place: a protobuf
// string is its LEB128 length then its bytes, which is a Native String cell
// as it is, so most cells are one copy.
import type { FlowEnd } from '../../proto/index.js';
import type { NativeColumn } from '../storage/storage.js';
import { RESETS } from '../storage/tables.js';
import { NativeWriter } from './native-writer.js';
import { readVarint, varintEnd, varintHigh } from './protobuf-scan.js';
import { RESET_TSV_COLUMNS } from './reset-batch-tsv.js';
import { EVENT, ID, MAP_FIELDS, STRIDE } from './reset-scan.js';
import type { Scan } from './reset-scan.js';

/** The block's columns and their types: the table's, LowCardinality left to ClickHouse. */
export const RESET_NATIVE_COLUMNS: readonly NativeColumn[] = RESET_TSV_COLUMNS.map((name) => {
  const column = RESETS.columns.find((c) => c.name === name);
  if (!column) throw new Error(`resets has no column ${name}`);
  return { name, type: column.type.replace(/LowCardinality\((\w+(?:\([^()]*\))?)\)/g, '$1') };
});

/** What every row of a batch shares. */
export interface BatchIdentity {
  host: string;
  bootId: string;
  batchId: string;
}

/** One batch's rows in a block: its scan and the events kept, in order. */
export interface BlockPart {
  scan: Scan;
  rows: readonly number[];
  id: BatchIdentity;
}

/**
 * A column as Native lays it out: one or more streams one after the other
 * (a Nullable's null map then its values; a Map's offsets, keys, values). Each
 * batch appends to every stream in turn, so the batch being read stays in the
 * cache: writing the block column by column over all batches read each
 * batch's bytes 70 times from memory and cost more than it saved.
 */
export interface ColumnWriter {
  streams: number;
  /** `offset`: the column's running total for array offsets (per block, from 0). */
  write(out: readonly NativeWriter[], part: BlockPart, offset: { total: number }): void;
}

export const COLUMN_WRITERS: readonly ColumnWriter[] = RESET_NATIVE_COLUMNS.map(({ name, type }) =>
  writerFor(name, type),
);

function writerFor(name: string, type: string): ColumnWriter {
  const field = ID[name === 'ts' ? 'ts_unix_ns' : name];
  if (field === undefined) return computedWriter(name, type);
  if (MAP_FIELDS.includes(field)) {
    if (type !== 'Map(String, String)') throw new Error(`resets.${name}: ${type} unexpected`);
    return mapWriter(field);
  }
  const spec = EVENT.fields[name === 'ts' ? 'ts_unix_ns' : name]!;
  const nullable = /^Nullable\((.*)\)$/.exec(type);
  const inner = nullable ? nullable[1]! : type;
  const values = valuesWriter(spec.type, inner, name, field);
  if (!nullable) {
    return { streams: 1, write: ([w], { scan, rows }) => values(w!, scan, rows) };
  }
  return {
    streams: 2,
    write: ([nulls, w], { scan, rows }) => {
      const { at } = scan;
      for (let i = 0; i < rows.length; i++)
        nulls!.uint8(at[rows[i]! * STRIDE + field]! < 0 ? 1 : 0);
      values(w!, scan, rows);
    },
  };
}

/**
 * Writes a wire field's cells for `rows` (an absent field: its zero value).
 * One loop per kind, not a call per cell: the column's whole work stays in
 * one optimized function.
 */
type ValuesWriter = (w: NativeWriter, scan: Scan, rows: readonly number[]) => void;

function valuesWriter(wire: string, type: string, name: string, field: number): ValuesWriter {
  switch (`${wire} ${type}`) {
    case "fixed64 DateTime64(9, 'UTC')":
    case 'double Float64':
      return (w, { at, bytes }, rows) => {
        for (let i = 0; i < rows.length; i++) {
          const pos = at[rows[i]! * STRIDE + field]!;
          if (pos < 0) w.zeros(8);
          else w.raw(bytes, pos, pos + 8);
        }
      };
    case 'string String':
      // The length varint and the bytes, copied together: the same LEB128 in both formats.
      return (w, { at, bytes }, rows) => {
        for (let i = 0; i < rows.length; i++) {
          const pos = at[rows[i]! * STRIDE + field]!;
          if (pos < 0) {
            w.uint8(0);
          } else {
            const length = readVarint(bytes, pos, bytes.length);
            w.raw(bytes, pos, varintEnd + length);
          }
        }
      };
    case 'string IPv6':
      return (w, scan, rows) => {
        const ip = name === 'local_addr' ? scan.local : scan.remote;
        for (let i = 0; i < rows.length; i++) w.raw(ip, rows[i]! * 16, rows[i]! * 16 + 16);
      };
    case 'bool Bool':
      return (w, { at, bytes }, rows) => {
        for (let i = 0; i < rows.length; i++) {
          const pos = at[rows[i]! * STRIDE + field]!;
          w.uint8(pos >= 0 && (readVarint(bytes, pos, bytes.length) | varintHigh) !== 0 ? 1 : 0);
        }
      };
    case 'uint32 UInt8':
    case 'uint32 UInt16':
    case 'uint32 UInt32': {
      const width = type === 'UInt8' ? 1 : type === 'UInt16' ? 2 : 4;
      return (w, { at, bytes }, rows) => {
        for (let i = 0; i < rows.length; i++) {
          const pos = at[rows[i]! * STRIDE + field]!;
          w.uintN(pos < 0 ? 0 : readVarint(bytes, pos, bytes.length), width);
        }
      };
    }
    case 'uint64 UInt64':
      return (w, { at, bytes }, rows) => {
        for (let i = 0; i < rows.length; i++) {
          const pos = at[rows[i]! * STRIDE + field]!;
          if (pos < 0) {
            w.zeros(8);
          } else {
            const low = readVarint(bytes, pos, bytes.length);
            w.uint64(low, varintHigh);
          }
        }
      };
    default:
      throw new Error(`resets.${name}: ${wire} into ${type} has no Native writer`);
  }
}

/** Map(String, String) in Native: cumulative offsets, then every key, then every value. */
function mapWriter(field: number): ColumnWriter {
  const k = MAP_FIELDS.indexOf(field);
  return {
    streams: 3,
    write: ([offsets, keys, values], { scan, rows }, offset) => {
      const { mapEntries: list, mapSpans, bytes } = scan;
      for (const e of rows) {
        const span = (e * MAP_FIELDS.length + k) * 2;
        const end = mapSpans[span + 1]!;
        for (let i = mapSpans[span]!; i < end; i += 4) {
          keys!.stringBytes(bytes, list[i]!, list[i + 1]!);
          values!.stringBytes(bytes, list[i + 2]!, list[i + 3]!);
          offset.total += 1;
        }
        offsets!.uint64Number(offset.total);
      }
    },
  };
}

function computedWriter(name: string, type: string): ColumnWriter {
  const end = /^(local|remote)_(kind|namespace|name|workload|services)$/.exec(name);
  if (end) {
    const side = end[1] as 'local' | 'remote';
    const part = end[2] as keyof FlowEnd;
    if (part !== 'services') return endTextWriter(side, part);
    if (type !== 'Array(String)') throw new Error(`resets.${name}: ${type} unexpected`);
    return servicesWriter(side);
  }
  switch (name) {
    case 'host':
    case 'boot_id':
    case 'batch_id': {
      const key = name === 'host' ? 'host' : name === 'boot_id' ? 'bootId' : 'batchId';
      return {
        streams: 1,
        write: ([w], { rows, id }) => {
          // The same cell on every row of a batch: encoded once.
          const bytes = cellBytes(id[key]);
          for (let i = 0; i < rows.length; i++) w!.raw(bytes, 0, bytes.length);
        },
      };
    }
    case 'batch_index':
      return {
        streams: 1,
        write: ([w], { rows }) => {
          for (const e of rows) w!.uint32(e);
        },
      };
    default:
      throw new Error(`resets.${name}: no Native writer`);
  }
}

/** One named end's text column (kind, namespace, name or workload). */
function endTextWriter(
  side: 'local' | 'remote',
  part: Exclude<keyof FlowEnd, 'services'>,
): ColumnWriter {
  return {
    streams: 1,
    write: ([w], { scan, rows }) => {
      const ends = scan.ends;
      if (!ends) {
        for (let i = 0; i < rows.length; i++) w!.uint8(0);
        return;
      }
      // Runs of one name (the agent's pod) are common, often the very same end
      // object (the namer shares them): each run's cell encoded once.
      let lastEnd: FlowEnd | undefined;
      let last = '';
      let bytes = cellBytes('');
      for (const e of rows) {
        const end = ends[e]![side];
        if (end !== lastEnd) {
          lastEnd = end;
          const text = end[part];
          if (text !== last) {
            bytes = cellBytes(text);
            last = text;
          }
        }
        w!.raw(bytes, 0, bytes.length);
      }
    },
  };
}

function servicesWriter(side: 'local' | 'remote'): ColumnWriter {
  return {
    streams: 2,
    write: ([offsets, values], { scan, rows }, offset) => {
      for (const e of rows) {
        if (scan.ends) {
          const services = scan.ends[e]![side].services;
          for (const s of services) values!.string(s);
          offset.total += services.length;
        }
        offsets!.uint64Number(offset.total);
      }
    },
  };
}

/** A String cell's bytes (length and text), to copy into many rows. */
function cellBytes(text: string): Buffer {
  const cell = new NativeWriter(text.length * 3 + 8);
  cell.string(text);
  return cell.bytes();
}
