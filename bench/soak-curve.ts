// The soak's curve and its reading: a row a minute from the samples, and per
// process whether its memory stays flat once warm. Pure functions of what was
// sampled, so the rule can be read and checked apart from the run.
import type { ProcessSample, Role } from './soak-processes.js';
import { ROLES } from './soak-processes.js';
import type { BacklogPoint } from './sustained-run.js';

export interface CurveRow {
  /** When the sample was taken, seconds after the storm began. */
  atS: number;
  rssMiB: Partial<Record<Role, number>>;
  /** Cores since the previous row: the agent with its loader, the collector, nats-server. */
  cores: { agent?: number; collector?: number; nats?: number };
  /** Rows stored and resets emitted but not yet stored, at the last count before atS. */
  stored?: number;
  lag?: number;
}

function nearest(samples: ProcessSample[], atS: number): ProcessSample | undefined {
  let best: ProcessSample | undefined;
  for (const s of samples) if (!best || Math.abs(s.atS - atS) < Math.abs(best.atS - atS)) best = s;
  return best;
}

function coresBetween(
  a: ProcessSample,
  b: ProcessSample,
  roles: readonly Role[],
): number | undefined {
  const dt = b.atS - a.atS;
  if (dt <= 0 || roles.some((r) => a.cpuS[r] === undefined || b.cpuS[r] === undefined)) {
    return undefined;
  }
  return roles.reduce((sum, r) => sum + b.cpuS[r]! - a.cpuS[r]!, 0) / dt;
}

/** A row at every whole minute of the storm and one at its end. */
export function minuteRows(
  samples: ProcessSample[],
  backlog: BacklogPoint[],
  stormS: number,
): CurveRow[] {
  const marks: number[] = [];
  for (let m = 0; m * 60 <= stormS; m++) marks.push(m * 60);
  if (stormS - marks[marks.length - 1]! > 5) marks.push(stormS);
  const picked: ProcessSample[] = [];
  for (const mark of marks) {
    const s = nearest(samples, mark);
    if (s && !picked.includes(s)) picked.push(s);
  }
  return picked.map((s, i) => {
    const prev = picked[i - 1];
    const counted = backlog.filter((b) => b.atS <= s.atS + 1 && b.stored >= 0).at(-1);
    return {
      atS: s.atS,
      rssMiB: s.rssMiB,
      cores: prev
        ? {
            agent: coresBetween(prev, s, ['agent', 'loader']),
            collector: coresBetween(prev, s, ['collector']),
            nats: coresBetween(prev, s, ['nats']),
          }
        : {},
      stored: counted?.stored,
      lag: counted ? counted.emitted - counted.stored : undefined,
    };
  });
}

/**
 * The least-squares slope of y over x, and its standard error: RSS samples of a
 * process that allocates and frees in bursts scatter widely around any trend, and
 * the slope is only worth what its error allows.
 */
export function slope(
  points: { x: number; y: number }[],
): { slope: number; error: number } | undefined {
  const n = points.length;
  if (n < 3) return undefined;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  if (sxx === 0) return undefined;
  const b = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
  const residuals = points.reduce((s, p) => s + (p.y - my - b * (p.x - mx)) ** 2, 0);
  return { slope: b, error: Math.sqrt(residuals / (n - 2) / sxx) };
}

/**
 * Below this, a soak is too short to say memory is flat: Node's heap and chDB's
 * caches grow for the first minutes of any load, and a leak of a few bytes per
 * reset shows only over many minutes.
 */
export const MIN_JUDGED_S = 10 * 60;
/** Warm-up left out of max − min: a fifth of the run, at most five minutes. */
export function warmUpS(stormS: number): number {
  return Math.min(300, stormS / 5);
}
/**
 * Growth over the second half that reads as flat, MiB an hour: below a leak of
 * ~6 bytes per reset at 1k resets/s (1 byte a reset is 3.4 MiB/h). A verdict needs
 * the slope's 95 % interval (±2 standard errors) wholly on one side of it: the
 * agent's samples pin its slope to ±1.4 MiB/h over 15 minutes, the collector's
 * (chDB allocates and frees ~200 MiB around inserts, merges and diagnosis
 * passes) only to ±200 MiB/h, and then the answer is "unclear", not "flat".
 */
export const FLAT_MIB_PER_H = 20;

export interface Flatness {
  role: Role;
  /** After warm-up. */
  firstMiB?: number;
  lastMiB?: number;
  minMiB?: number;
  maxMiB?: number;
  /** Over the second half of the storm, with two standard errors (≈ 95 %). */
  slopeMiBPerH?: number;
  slopeErrorMiBPerH?: number;
  verdict: 'flat' | 'grows' | 'unclear' | 'too short' | 'not seen';
}

export function flatness(samples: ProcessSample[], stormS: number): Flatness[] {
  const warm = samples.filter((s) => s.atS >= warmUpS(stormS));
  const half = samples.filter((s) => s.atS >= stormS / 2);
  return ROLES.map((role) => {
    const rss = warm.map((s) => s.rssMiB[role]).filter((x): x is number => x !== undefined);
    if (rss.length === 0) return { role, verdict: 'not seen' };
    const points = half
      .filter((s) => s.rssMiB[role] !== undefined)
      .map((s) => ({ x: s.atS / 3600, y: s.rssMiB[role]! }));
    const fit = slope(points);
    const error = fit && 2 * fit.error;
    const verdict =
      stormS < MIN_JUDGED_S || !fit
        ? 'too short'
        : fit.slope + error! <= FLAT_MIB_PER_H
          ? 'flat'
          : fit.slope - error! > FLAT_MIB_PER_H
            ? 'grows'
            : 'unclear';
    return {
      role,
      firstMiB: rss[0],
      lastMiB: rss.at(-1),
      minMiB: Math.min(...rss),
      maxMiB: Math.max(...rss),
      slopeMiBPerH: fit?.slope,
      slopeErrorMiBPerH: error,
      verdict,
    };
  });
}
