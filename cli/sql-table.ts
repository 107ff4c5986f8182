// Query results as an aligned table for a terminal: column names as the header,
// numbers right-aligned so magnitudes line up, one row per line.
import type { SqlColumn } from '../proto/index.js';

// Nullable(UInt64), LowCardinality(Nullable(Float64)), Decimal(18, 4)...
const NUMERIC_TYPE =
  /^(?:(?:Nullable|LowCardinality)\()*(?:U?Int\d+|Float\d+|Decimal\d*|BFloat16)\b/;

/** The lines of the table; rows are JSON objects keyed by column name. */
export function formatTable(columns: readonly SqlColumn[], rows: readonly string[]): string[] {
  const numeric = columns.map((column) => NUMERIC_TYPE.test(column.type));
  const cells = rows.map((row) => {
    const values = JSON.parse(row) as Record<string, unknown>;
    return columns.map((column) => cellText(values[column.name]));
  });
  const widths = columns.map((column, i) =>
    Math.max(width(column.name), ...cells.map((line) => width(line[i]!))),
  );
  const render = (line: string[]) =>
    line
      .map((text, i) => {
        const pad = ' '.repeat(widths[i]! - width(text));
        return numeric[i] ? pad + text : text + pad;
      })
      .join('  ')
      .trimEnd();
  return [render(columns.map((column) => column.name)), ...cells.map(render)];
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  // Control characters would break the row apart; show them escaped instead.
  // eslint-disable-next-line no-control-regex -- matching them is the point
  if (typeof value === 'string') return value.replace(/[\u0000-\u001f\u007f]/g, escapeControl);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function escapeControl(char: string): string {
  switch (char) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`;
  }
}

/** Width in code points: close enough for the names and addresses in resets. */
function width(text: string): number {
  return [...text].length;
}
