// Time windows for the query verbs: --since 1h (the last hour up to now), or
// --from/--to with absolute times. The store keeps UTC; so do the flags.

export interface TimeWindow {
  from: Date;
  to: Date;
}

export class TimeWindowError extends Error {
  override name = 'TimeWindowError';
}

const UNIT_MS: Record<string, number> = { s: 1e3, m: 60e3, h: 3_600e3, d: 86_400e3, w: 604_800e3 };

/** 90s, 15m, 1h, 7d, 2w. */
export function parseAge(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(text);
  const ms = match ? Number(match[1]) * UNIT_MS[match[2]!]! : NaN;
  if (!(ms > 0))
    throw new TimeWindowError(`${flag} ${text}: expected an age such as 15m, 1h or 7d`);
  return ms;
}

/** 2026-11-21T10:00:00Z, 2026-11-21 10:00:00 (UTC), or 2026-11-21. */
function parseInstant(text: string, flag: string): Date {
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(text)
    ? `${text}T00:00:00Z`
    : /[zZ]|[+-]\d{2}:?\d{2}$/.test(text)
      ? text.replace(' ', 'T')
      : `${text.replace(' ', 'T')}Z`;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    throw new TimeWindowError(
      `${flag} ${text}: expected a UTC time such as 2026-11-21T10:00:00Z or 2026-11-21`,
    );
  }
  return date;
}

export function timeWindow(
  flags: { since?: string; from?: string; to?: string },
  defaultSince: string,
  now = new Date(),
): TimeWindow {
  if (flags.since !== undefined && (flags.from !== undefined || flags.to !== undefined)) {
    throw new TimeWindowError('give either --since or --from/--to, not both');
  }
  const to = flags.to === undefined ? now : parseInstant(flags.to, '--to');
  const from =
    flags.from !== undefined
      ? parseInstant(flags.from, '--from')
      : new Date(to.getTime() - parseAge(flags.since ?? defaultSince, '--since'));
  if (from >= to) throw new TimeWindowError('--from must be before --to');
  return { from, to };
}

/** Nanoseconds since the epoch as the API takes them: a decimal string. */
export function unixNs(date: Date): string {
  return String(BigInt(date.getTime()) * 1_000_000n);
}
