// ResetFilter as the API receives it, checked once and put in the form both of
// its users need: SQL conditions for the stored resets (ListResets, TopCauses,
// Middleboxes) and a match against live events (WatchResets).
import { isIP } from 'node:net';
import { CAUSE_IDS } from '../diagnosis/causes.js';
import type { ResetFilter } from '../../proto/index.js';
import { parseNamespace, parsePod, parseService, parseWorkload } from './name-filters.js';
import type { NameFilters } from './name-filters.js';
import { ResetFilterError } from './reset-filter-error.js';

export { ResetFilterError };

/** The window when the caller gives none: the last hour. */
export const DEFAULT_WINDOW_NS = 3_600n * 1_000_000_000n;

export const DIRECTIONS = ['sent', 'received'] as const;
export const ORIGINS = ['local', 'peer', 'injected', 'unknown'] as const;

/** An address range, both ends as 16 bytes (IPv4 v4-mapped, as the store keeps them). */
export interface AddressRange {
  first: Buffer;
  last: Buffer;
  /** The bounds in IPv6 text, for binding as {name:IPv6}. */
  firstText: string;
  lastText: string;
}

export interface ParsedResetFilter extends NameFilters {
  /** Nanoseconds since the epoch, inclusive. */
  fromNs: bigint;
  toNs: bigint;
  host?: string;
  /** An inode, or a name to resolve through the hosts' heartbeats. */
  netns?: { inode: number } | { name: string };
  address?: AddressRange;
  port?: number;
  direction?: (typeof DIRECTIONS)[number];
  origin?: (typeof ORIGINS)[number];
  cause?: string;
}

export function parseResetFilter(
  filter: Partial<ResetFilter> | null | undefined,
  nowNs: bigint = BigInt(Date.now()) * 1_000_000n,
): ParsedResetFilter {
  const f = filter ?? {};
  const toNs = nanos(f.to_unix_ns) || nowNs;
  const fromNs = nanos(f.from_unix_ns) || toNs - DEFAULT_WINDOW_NS;
  if (fromNs > toNs) {
    throw new ResetFilterError('from_unix_ns is after to_unix_ns: give the window oldest first');
  }
  const parsed: ParsedResetFilter = { fromNs, toNs };
  if (f.host) parsed.host = f.host;
  if (f.netns) {
    parsed.netns = /^\d+$/.test(f.netns) ? { inode: Number(f.netns) } : { name: f.netns };
  }
  if (f.address) parsed.address = addressRange(f.address);
  if (f.port) {
    if (!(f.port >= 1 && f.port <= 65_535)) {
      throw new ResetFilterError(`port ${f.port}: expected 1 to 65535`);
    }
    parsed.port = f.port;
  }
  if (f.direction) parsed.direction = oneOf('direction', f.direction, DIRECTIONS);
  if (f.origin) parsed.origin = oneOf('origin', f.origin, ORIGINS);
  if (f.cause) parsed.cause = oneOf('cause', f.cause, CAUSE_IDS);
  if (f.namespace) parsed.namespace = parseNamespace(f.namespace);
  if (f.workload) parsed.workload = parseWorkload(f.workload);
  if (f.service) parsed.service = parseService(f.service);
  if (f.pod) parsed.pod = parsePod(f.pod);
  return parsed;
}

/** 10.2.0.0/16, fd00::/64, or one address (a /32 or /128). */
export function addressRange(text: string): AddressRange {
  const [address = '', bitsText, extra] = text.split('/');
  const family = isIP(address);
  const width = family === 4 ? 32 : 128;
  // Digits only: Number() would read '' as 0 (every address) and ' 8' or '+8' as 8.
  const bits = bitsText === undefined ? width : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
  if (!family || extra !== undefined || !(bits >= 0 && bits <= width)) {
    throw new ResetFilterError(
      `address ${text}: expected an address or a CIDR, e.g. 10.2.0.2, 10.2.0.0/16 or fd00::/64`,
    );
  }
  const bytes = ipv6Bytes(address);
  const prefix = family === 4 ? 96 + bits : bits;
  const first = Buffer.from(bytes);
  const last = Buffer.from(bytes);
  for (let bit = prefix; bit < 128; bit++) {
    const mask = 0x80 >> (bit % 8);
    first[bit >> 3]! &= ~mask;
    last[bit >> 3]! |= mask;
  }
  return { first, last, firstText: ipv6Text(first), lastText: ipv6Text(last) };
}

/** Whether an address (as events and rows carry it, IPv4 plain or v4-mapped) is in range. */
export function inRange(range: AddressRange, address: string): boolean {
  if (!isIP(address)) return false;
  const bytes = ipv6Bytes(address);
  return Buffer.compare(bytes, range.first) >= 0 && Buffer.compare(bytes, range.last) <= 0;
}

/** 16 bytes of an IPv6 address; IPv4 becomes ::ffff:a.b.c.d. */
export function ipv6Bytes(address: string): Buffer {
  const bytes = Buffer.alloc(16);
  if (isIP(address) === 4) {
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    address.split('.').forEach((octet, i) => (bytes[12 + i] = Number(octet)));
    return bytes;
  }
  // Split at '::', expand each side's groups (the last may be dotted IPv4).
  const [head = '', tail] = address.split('::');
  const groups = (part: string) =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [parseInt(g, 16)];
          const o = g.split('.').map(Number);
          return [(o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!];
        });
  const before = groups(head);
  const after = tail === undefined ? [] : groups(tail);
  const all = [...before, ...Array<number>(8 - before.length - after.length).fill(0), ...after];
  all.forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
  return bytes;
}

function ipv6Text(bytes: Buffer): string {
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16));
  return groups.join(':');
}

function nanos(text: string | undefined): bigint {
  return text ? BigInt(text) : 0n;
}

function oneOf<T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ResetFilterError(`${field} ${value}: expected one of ${allowed.join(', ')}`);
  }
  return value as T;
}
