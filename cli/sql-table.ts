// Query results as an aligned table for a terminal: column names as the header,
// numbers right-aligned so magnitudes line up, one row per line.
import type { SqlColumn } from '../proto/index.js';
import { alignRows, printable } from './text-table.js';

// Nullable(UInt64), LowCardinality(Nullable(Float64)), Decimal(18, 4)...
const NUMERIC_TYPE =
  /^(?:(?:Nullable|LowCardinality)\()*(?:U?Int\d+|Float\d+|Decimal\d*|BFloat16)\b/;

/** The lines of the table; rows are JSON objects keyed by column name. */
export function formatTable(columns: readonly SqlColumn[], rows: readonly string[]): string[] {
  const cells = rows.map((row) => {
    const values = JSON.parse(row) as Record<string, unknown>;
    return columns.map((column) => cellText(values[column.name]));
  });
  return alignRows(
    columns.map((column) => column.name),
    cells,
    columns.map((column) => NUMERIC_TYPE.test(column.type)),
  );
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string') return printable(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
