// Event time as text and as nanoseconds: the agent prints RFC 3339 with all nine
// digits, the wire carries nanoseconds since the epoch, ClickHouse stores DateTime64(9).

/** RFC 3339 with all nine digits of the kernel's nanoseconds. */
export function formatTimestamp(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // ...T12:34:56.789Z
  const subMs = (ns % 1_000_000n).toString().padStart(6, '0');
  return `${iso.slice(0, -1)}${subMs}Z`;
}

/** Nanoseconds since the epoch from formatTimestamp's text. */
export function timestampNs(ts: string): bigint {
  const seconds = BigInt(Date.parse(`${ts.slice(0, 19)}Z`) / 1000);
  const fraction = ts.slice(20, 29).padEnd(9, '0');
  return seconds * 1_000_000_000n + BigInt(fraction || '0');
}
