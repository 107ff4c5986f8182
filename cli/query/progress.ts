// While a query runs longer than a moment, a person at a terminal should see
// that something is happening, and for how long; a script reading stderr should
// see nothing at all, so the indicator only appears when stderr is a TTY.
import type { CommandOutput } from '../collector-connection.js';

export interface ProgressOutput extends CommandOutput {
  /** True for a terminal (process.stderr sets it); absent or false: no indicator. */
  isTTY?: boolean;
}

export interface ProgressTiming {
  /** Quiet for this long: most answers come sooner (default 1 s). */
  delayMs: number;
  /** How often the elapsed time is redrawn (default 1 s). */
  intervalMs: number;
}

export const DEFAULT_PROGRESS_TIMING: Readonly<ProgressTiming> = Object.freeze({
  delayMs: 1_000,
  intervalMs: 1_000,
});

// Carriage return and "erase the whole line": the indicator redraws in place
// and leaves nothing behind when the answer comes.
const CLEAR_LINE = '\r\x1b[2K';

/** `work`, with "LABEL… N s" on `out` while it runs past the delay. */
export async function withProgress<T>(
  out: ProgressOutput,
  label: string,
  work: Promise<T>,
  timing: ProgressTiming = DEFAULT_PROGRESS_TIMING,
): Promise<T> {
  if (!out.isTTY) return work;
  const started = performance.now();
  let shown = false;
  let ticker: NodeJS.Timeout | undefined;
  const draw = () => {
    shown = true;
    // Rounded: a timer due at 1 s may fire a hair early, and "0 s" after a second reads wrong.
    out.write(`${CLEAR_LINE}${label}… ${Math.round((performance.now() - started) / 1000)} s`);
  };
  const delay = setTimeout(() => {
    draw();
    ticker = setInterval(draw, timing.intervalMs);
  }, timing.delayMs);
  try {
    return await work;
  } finally {
    clearTimeout(delay);
    clearInterval(ticker);
    if (shown) out.write(CLEAR_LINE);
  }
}
