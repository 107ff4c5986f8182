// A growing byte buffer that writes ClickHouse's Native format primitives:
// LEB128 lengths, little-endian fixed-width numbers, length-prefixed strings.
// ClickHouse reads Native column by column without parsing text, which is
// most of what a row cost it in TSV (docs/pipeline.md).

export class NativeWriter {
  private buffer: Buffer;
  private pos = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  /** The bytes written so far (a view, valid until the next write). */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.pos);
  }

  /** Starts again at the beginning, keeping the buffer. */
  reset(): void {
    this.pos = 0;
  }

  /** Room for `n` more bytes. */
  private room(n: number): void {
    if (this.pos + n <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buffer.copy(grown, 0, 0, this.pos);
    this.buffer = grown;
  }

  varUint(value: number): void {
    this.room(10);
    let v = value;
    while (v >= 0x80) {
      this.buffer[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buffer[this.pos++] = v;
  }

  uint8(value: number): void {
    this.room(1);
    this.buffer[this.pos++] = value;
  }

  uint16(value: number): void {
    this.room(2);
    const b = this.buffer;
    b[this.pos++] = value & 0xff;
    b[this.pos++] = (value >>> 8) & 0xff;
  }

  uint32(value: number): void {
    this.room(4);
    const b = this.buffer;
    b[this.pos++] = value & 0xff;
    b[this.pos++] = (value >>> 8) & 0xff;
    b[this.pos++] = (value >>> 16) & 0xff;
    b[this.pos++] = (value >>> 24) & 0xff;
  }

  /** The low `width` bytes (1, 2 or 4) of an unsigned integer, little-endian. */
  uintN(value: number, width: number): void {
    this.room(4);
    const b = this.buffer;
    b[this.pos] = value & 0xff;
    b[this.pos + 1] = (value >>> 8) & 0xff;
    b[this.pos + 2] = (value >>> 16) & 0xff;
    b[this.pos + 3] = (value >>> 24) & 0xff;
    this.pos += width;
  }

  /** A 64-bit integer from its two 32-bit halves. */
  uint64(low: number, high: number): void {
    this.uint32(low);
    this.uint32(high);
  }

  /** A UInt64 below 2^53, such as an array offset. */
  uint64Number(value: number): void {
    this.uint64(value % 0x1_0000_0000, Math.floor(value / 0x1_0000_0000));
  }

  /** Bytes copied as they are, e.g. a fixed64 or double straight from protobuf. */
  raw(source: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.room(n);
    if (n > 64) {
      this.buffer.set(source.subarray(start, end), this.pos);
    } else {
      // Most cells are a few bytes: a view per cell would cost more than the copy.
      const b = this.buffer;
      let p = this.pos;
      for (let i = start; i < end; i++) b[p++] = source[i]!;
    }
    this.pos += n;
  }

  /** `n` zero bytes (the value under a null, or an absent fixed-width field). */
  zeros(n: number): void {
    this.room(n);
    this.buffer.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  /** A String cell whose UTF-8 bytes are already in `source` (a protobuf string). */
  stringBytes(source: Uint8Array, start: number, end: number): void {
    this.varUint(end - start);
    this.raw(source, start, end);
  }

  /** A String cell from JavaScript text. */
  string(text: string): void {
    // Up to 3 bytes per UTF-16 unit; short ASCII cells (most) take a 1-byte length.
    const most = text.length * 3;
    this.room(most + 5);
    if (most < 0x80) {
      const n = this.buffer.write(text, this.pos + 1, 'utf8');
      this.buffer[this.pos] = n;
      this.pos += 1 + n;
      return;
    }
    const n = Buffer.byteLength(text);
    this.varUint(n);
    this.pos += this.buffer.write(text, this.pos, 'utf8');
  }
}
