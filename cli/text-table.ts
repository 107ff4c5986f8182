// Aligned columns for a terminal: a header, then one row per line, numbers
// right-aligned so magnitudes line up. Shared by `rstscope sql` and the verbs.

export interface TableColumn {
  /** The header, and the key of the row's value. */
  name: string;
  /** Right-aligned (counts, hops, bytes). */
  numeric?: boolean;
}

/** The lines of the table; `cells` are already text, one array per row. */
export function alignRows(
  header: readonly string[],
  cells: readonly (readonly string[])[],
  numeric: readonly boolean[],
): string[] {
  const widths = header.map((name, i) =>
    Math.max(width(name), ...cells.map((line) => width(line[i] ?? ''))),
  );
  const render = (line: readonly string[]) =>
    line
      .map((text, i) => {
        const pad = ' '.repeat(widths[i]! - width(text));
        return numeric[i] ? pad + text : text + pad;
      })
      .join('  ')
      .trimEnd();
  return [render(header), ...cells.map(render)];
}

/** A table of objects; a missing or null value is an empty cell. */
export function textTable(
  columns: readonly TableColumn[],
  rows: readonly Record<string, string | number | null | undefined>[],
): string[] {
  return alignRows(
    columns.map((c) => c.name),
    rows.map((row) => columns.map((c) => printable(String(row[c.name] ?? '')))),
    columns.map((c) => c.numeric === true),
  );
}

/** Control characters would break a row apart; they are shown escaped instead. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching them is the point
  return text.replace(/[\u0000-\u001f\u007f]/g, escapeControl);
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
