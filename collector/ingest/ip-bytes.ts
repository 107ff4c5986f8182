// An IP address as the agent writes it (text, in protobuf bytes) → the 16
// bytes of a ClickHouse IPv6 cell, IPv4 mapped (::ffff:a.b.c.d) as the table
// keeps it. Reads the bytes in place: the hot path's addresses are IPv4 and
// never become JavaScript strings.
import { isIP } from 'node:net';

const DOT = 0x2e;
const ZERO = 0x30;

/**
 * Writes the address in source[start, end) to out[at, at + 16); false when it
 * is not an IPv4 or IPv6 address (one with a zone, `fe80::1%eth0`, is not:
 * the column has no room for the zone).
 */
export function ipBytes(
  source: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  at: number,
): boolean {
  if (ipv4Bytes(source, start, end, out, at + 12)) {
    out.fill(0, at, at + 10);
    out[at + 10] = 0xff;
    out[at + 11] = 0xff;
    return true;
  }
  const text = Buffer.from(source.buffer, source.byteOffset + start, end - start).toString(
    'latin1',
  );
  if (columnIpVersion(text) !== 6) return false;
  writeIpv6(text, out, at);
  return true;
}

/**
 * 4 or 6 for an address the IPv6 column takes, else 0: Node's isIP also accepts
 * a zone (`fe80::1%eth0`), which the column has no room for. The one rule both
 * readers (Native here, TSV on text) apply.
 */
export function columnIpVersion(text: string): number {
  return text.includes('%') ? 0 : isIP(text);
}

/** Dotted quad, no leading zeros (as Node's isIP), into 4 bytes. */
function ipv4Bytes(
  source: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  at: number,
): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = source[i]!;
    if (c === DOT) {
      if (digits === 0 || part === 3) return false;
      out[at + part++] = value;
      value = 0;
      digits = 0;
      continue;
    }
    const d = c - ZERO;
    if (d < 0 || d > 9 || (digits === 1 && value === 0)) return false;
    value = value * 10 + d;
    digits += 1;
    if (value > 255) return false;
  }
  if (part !== 3 || digits === 0) return false;
  out[at + 3] = value;
  return true;
}

/** A valid IPv6 text (checked by isIP) into 16 bytes. */
function writeIpv6(text: string, out: Uint8Array, at: number): void {
  const words: number[] = [];
  const [head = '', tail] = text.split('::') as [string, string | undefined];
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const result: number[] = [];
    for (const group of part.split(':')) {
      if (group.includes('.')) {
        const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
        result.push((a << 8) | b, (c << 8) | d);
      } else {
        result.push(parseInt(group, 16));
      }
    }
    return result;
  };
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  words.push(...front);
  for (let i = front.length + back.length; i < 8; i++) words.push(0);
  words.push(...back);
  for (let i = 0; i < 8; i++) {
    out[at + 2 * i] = words[i]! >> 8;
    out[at + 2 * i + 1] = words[i]! & 0xff;
  }
}
