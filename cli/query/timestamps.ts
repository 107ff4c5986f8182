// How the API's times read on a terminal: nanoseconds since the epoch as UTC
// text, and "how long ago" for heartbeats. Pure, so tests can pin `now`.

const NS_PER_MS = 1_000_000n;

/** 2026-11-21 22:45:06.943111 (UTC, microseconds); empty for 0 ("not given"). */
export function formatUnixNs(ns: string, digits: 3 | 6 | 9 = 6): string {
  const value = BigInt(ns || '0');
  if (value === 0n) return '';
  const ms = value / NS_PER_MS;
  const subSecond = String(value % 1_000_000_000n).padStart(9, '0');
  const seconds = new Date(Number(ms)).toISOString().slice(0, 19).replace('T', ' ');
  return `${seconds}.${subSecond.slice(0, digits)}`;
}

/** A request's window as people read it: 2026-11-21 22:00:00.000 → 2026-11-21 23:00:00.000 UTC. */
export function windowText(window: { from_unix_ns: string; to_unix_ns: string }): string {
  return `${formatUnixNs(window.from_unix_ns, 3)} → ${formatUnixNs(window.to_unix_ns, 3)} UTC`;
}

/** 22:45:06.943111: the time of day only, for a live feed. */
export function timeOfDayUnixNs(ns: string): string {
  return formatUnixNs(ns).slice(11);
}

/** "4 s ago", "12 min ago", "3 h ago", "2 d ago"; "" when not given. */
export function agoText(ns: string, now: Date = new Date()): string {
  const value = BigInt(ns || '0');
  if (value === 0n) return '';
  const seconds = Math.max(0, Math.round((now.getTime() - Number(value / NS_PER_MS)) / 1000));
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7_200) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172_800) return `${Math.round(seconds / 3_600)} h ago`;
  return `${Math.round(seconds / 86_400)} d ago`;
}

/** 5 ms, 1.2 s, 4.0 min, 13.5 h: a duration at the precision it deserves. */
export function durationText(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
