// The rows of many reset batches as one Native block for `resets`: one block
// per insert, not one per batch. ClickHouse reads each block's header (70
// column names and types) and squashes small blocks before it writes a part;
// a single block skips both (~25 % of chDB's cost per row at 600-row blocks).
// The block comes as a list of buffers (header, then each column's streams),
// written to the spool file with one writev: no copy into one buffer.
import { COLUMN_WRITERS, RESET_NATIVE_COLUMNS } from './native-reset-columns.js';
import type { BlockPart } from './native-reset-columns.js';
import { NativeWriter } from './native-writer.js';

/** One Native block of every part's rows, in pieces to write in order; no rows: none. */
export function resetsNativeBlock(parts: readonly BlockPart[]): Buffer[] {
  let rows = 0;
  for (const part of parts) rows += part.rows.length;
  if (!rows) return [];
  const columns = COLUMN_WRITERS.map((c) => ({
    c,
    // Sized for a fixed-width cell per row; string columns grow (doubling).
    out: Array.from({ length: c.streams }, () => new NativeWriter(rows * 8 + 256)),
    offset: { total: 0 },
  }));
  // Batch by batch, each one's columns in turn: its bytes stay in the cache.
  for (const part of parts) {
    if (!part.rows.length) continue;
    for (const { c, out, offset } of columns) c.write(out, part, offset);
  }
  const pieces: Buffer[] = [];
  const head = new NativeWriter(4096);
  head.varUint(RESET_NATIVE_COLUMNS.length);
  head.varUint(rows);
  columns.forEach(({ out }, i) => {
    const { name, type } = RESET_NATIVE_COLUMNS[i]!;
    head.string(name);
    head.string(type);
    pieces.push(Buffer.from(head.bytes()));
    head.reset();
    for (const w of out) pieces.push(w.bytes());
  });
  return pieces;
}
