// One row of the benchmark table: a figure, what was measured, the design's
// target (../shared/design.md, "Performance bar"), and whether it was met.

export interface Target {
  /** The measured value must be at most, at least, or exactly the value. */
  op: '<=' | '>=' | '=';
  value: number;
}

export interface Figure {
  figure: string;
  /** Median of the runs; null when the bench did not produce it (why: in `note`). */
  measured: number | null;
  unit: string;
  target?: Target;
  note?: string;
}

function fmt(x: number): string {
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 1 ? 2 : 3;
  return x.toFixed(digits);
}

export function measuredText(f: Figure): string {
  return f.measured === null ? '—' : `${fmt(f.measured)}${f.unit ? ` ${f.unit}` : ''}`;
}

export function targetText(f: Figure): string {
  if (!f.target) return '';
  const op = f.target.op === '=' ? '' : `${f.target.op.replace('<=', '≤').replace('>=', '≥')} `;
  return `${op}${fmt(f.target.value)}${f.unit ? ` ${f.unit}` : ''}`;
}

/** "met", "missed by …", or why there is no verdict. */
export function verdict(f: Figure): string {
  if (f.measured === null) return `not measured${f.note ? `: ${f.note}` : ''}`;
  const t = f.target;
  if (!t) return '';
  const m = f.measured;
  const met = t.op === '<=' ? m <= t.value : t.op === '>=' ? m >= t.value : m === t.value;
  if (met) return 'met';
  const unit = f.unit ? ` ${f.unit}` : '';
  if (t.op === '=') return `missed by ${fmt(Math.abs(m - t.value))}${unit}`;
  const times = t.op === '<=' ? m / t.value : t.value / Math.max(m, Number.MIN_VALUE);
  const by = t.value === 0 ? '' : ` (${times.toFixed(1)}×)`;
  return `missed by ${fmt(Math.abs(m - t.value))}${unit}${by}`;
}

/** The table, as Markdown so it pastes into the README unchanged. */
export function figureTable(figures: Figure[]): string {
  const rows = figures.map((f) => [f.figure, measuredText(f), targetText(f), verdict(f)]);
  const lines = [
    '| figure | measured (median) | target | verdict |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
  return lines.join('\n');
}
