// Benchmarks report the median of their runs: one slow run (a busy machine) does
// not move it, as it would move a mean.

export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}
