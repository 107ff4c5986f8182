// The few protobuf wire primitives the collector's hot path reads in place:
// varints (as 32-bit halves, no Long objects), lengths and skips. A message
// that ends inside a value throws RangeError, as protobufjs's reader does.

/** The high half of the last varint64 read (module state: no object per value). */
export let varintHigh = 0;

/** Where the last varint read ended. */
export let varintEnd = 0;

/** Reads a varint at `pos`: returns its low 32 bits, sets varintHigh and varintEnd. */
export function readVarint(bytes: Uint8Array, pos: number, end: number): number {
  let low = 0;
  let high: number;
  let b: number;
  let i = pos;
  for (let shift = 0; shift < 28; shift += 7) {
    if (i >= end) throw new RangeError('varint runs past the end');
    b = bytes[i++]!;
    low |= (b & 0x7f) << shift;
    if (b < 0x80) return done(low >>> 0, 0, i);
  }
  if (i >= end) throw new RangeError('varint runs past the end');
  b = bytes[i++]!;
  low |= (b & 0x0f) << 28;
  high = (b & 0x7f) >> 4;
  if (b < 0x80) return done(low >>> 0, high, i);
  for (let shift = 3; shift < 32; shift += 7) {
    if (i >= end) throw new RangeError('varint runs past the end');
    b = bytes[i++]!;
    high |= (b & 0x7f) << shift;
    if (b < 0x80) return done(low >>> 0, high >>> 0, i);
  }
  throw new RangeError('varint longer than 10 bytes');
}

function done(low: number, high: number, end: number): number {
  varintHigh = high;
  varintEnd = end;
  return low;
}

/** The position after the value of wire type `wireType` starting at `pos`. */
export function skipValue(bytes: Uint8Array, pos: number, end: number, wireType: number): number {
  let next: number;
  switch (wireType) {
    case 0:
      readVarint(bytes, pos, end);
      next = varintEnd;
      break;
    case 1:
      next = pos + 8;
      break;
    case 2:
      next = readVarint(bytes, pos, end) + varintEnd;
      break;
    case 5:
      next = pos + 4;
      break;
    default:
      throw new RangeError(`wire type ${wireType} is not used by rstscope`);
  }
  if (next > end) throw new RangeError('value runs past the end');
  return next;
}
