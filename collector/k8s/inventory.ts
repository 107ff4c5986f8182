// Names for addresses outside Kubernetes: hosts, services on VMs, and the
// middleboxes (NAT gateways, load balancers, firewalls) that inject resets.
// A JSON file, because the collector has no YAML parser and needs none:
//   { "entries": [ { "address": "10.20.0.0/16", "name": "office", "kind": "host" },
//                  { "address": "10.0.0.1", "name": "nat-gw-1", "kind": "middlebox",
//                    "labels": { "vendor": "aws" } } ] }
// The most specific entry wins (longest prefix), as in a routing table.
import { readFileSync } from 'node:fs';
import type { AddressRange } from '../query/reset-filter.js';
import { addressRange, ipv6Bytes, ResetFilterError } from '../query/reset-filter.js';
import { canonicalAddress } from './address-text.js';

export const INVENTORY_KINDS = ['host', 'service', 'middlebox'] as const;
export type InventoryKind = (typeof INVENTORY_KINDS)[number];

export interface InventoryEntry {
  /** As written: an address or a CIDR. */
  address: string;
  name: string;
  kind: InventoryKind;
  labels: Record<string, string>;
}

export class InventoryError extends Error {
  override name = 'InventoryError';
}

interface Prefix {
  entry: InventoryEntry;
  range: AddressRange;
  /** Bits in the 128-bit space (an IPv4 /24 is 120), so both families compare. */
  bits: number;
}

const FIELDS = new Set(['address', 'name', 'kind', 'labels']);

export class Inventory {
  private readonly prefixes: Prefix[];

  /** `lines`: where each entry starts in its file, for messages. */
  constructor(entries: InventoryEntry[], source = 'inventory', lines: number[] = []) {
    const byRange = new Map<string, InventoryEntry>();
    this.prefixes = entries.map((entry, i) => {
      const where = `${at(source, lines[i])}: entry ${i + 1} (${entry.name})`;
      const prefix = toPrefix(entry, where);
      const key = `${prefix.range.firstText}/${prefix.bits}`;
      const twin = byRange.get(key);
      if (twin) {
        throw new InventoryError(
          `${where}: ${entry.address} is already ${twin.name}; give each address or CIDR once`,
        );
      }
      byRange.set(key, entry);
      return prefix;
    });
    // Longest first, so the first match is the most specific.
    this.prefixes.sort((a, b) => b.bits - a.bits);
  }

  /** The most specific entry that contains `address`. */
  lookup(address: string): InventoryEntry | undefined {
    const text = canonicalAddress(address);
    if (text === undefined) return undefined;
    const bytes = ipv6Bytes(text);
    return this.prefixes.find(
      (p) => Buffer.compare(bytes, p.range.first) >= 0 && Buffer.compare(bytes, p.range.last) <= 0,
    )?.entry;
  }

  get size(): number {
    return this.prefixes.length;
  }

  /** Every entry with the first and last address it covers (IPv6 text, IPv4 v4-mapped). */
  ranges(): { entry: InventoryEntry; first: string; last: string }[] {
    return this.prefixes.map((p) => ({
      entry: p.entry,
      first: p.range.firstText,
      last: p.range.lastText,
    }));
  }
}

/** Reads and checks an inventory file; every problem is one line naming the entry. */
export function loadInventory(file: string): Inventory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InventoryError(`${file}: cannot read the inventory (${code ?? String(err)})`, {
      cause: err,
    });
  }
  return parseInventory(text, file);
}

export function parseInventory(text: string, source = 'inventory'): Inventory {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const position = /at position (\d+)/.exec(message)?.[1];
    const line = lineOf(text, position === undefined ? text.length : Number(position));
    throw new InventoryError(`${at(source, line)}: not valid JSON (${message})`, {
      cause: err,
    });
  }
  const entries = (doc as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(entries)) {
    throw new InventoryError(
      `${source}: expected {"entries": [{"address": "10.0.0.0/8", "name": "…", "kind": "host"}, …]}`,
    );
  }
  const lines = entryLines(text);
  return new Inventory(
    entries.map((raw, i) => checkEntry(raw, `${at(source, lines[i])}: entry ${i + 1}`)),
    source,
    lines,
  );
}

/** `file:line`, as compilers name a place, or the file alone when the line is unknown. */
function at(source: string, line: number | undefined): string {
  return line === undefined ? source : `${source}:${line}`;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * The line each element of the top-level "entries" array starts on, read from
 * text JSON.parse accepted: a scan that skips strings and counts nesting.
 */
function entryLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let key = '';
  let inEntries = false;
  let expectValue = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    else if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (inEntries && depth === 2 && expectValue) lines.push(line);
      if (depth === 1) key = text.slice(i + 1, end);
      i = end;
      expectValue = false;
    } else if (c === '{' || c === '[') {
      if (inEntries && depth === 2 && expectValue) lines.push(line);
      depth++;
      if (depth === 2 && c === '[' && key === 'entries') inEntries = true;
      expectValue = true;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 1) inEntries = false;
      expectValue = false;
    } else if (c === ',') expectValue = true;
    else if (c !== ' ' && c !== '\t' && c !== '\r' && c !== ':' && inEntries && depth === 2) {
      if (expectValue) lines.push(line);
      expectValue = false;
    }
  }
  return lines;
}

function checkEntry(raw: unknown, where: string): InventoryEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InventoryError(`${where}: expected an object with address, name and kind`);
  }
  const e = raw as Record<string, unknown>;
  const label = typeof e.name === 'string' && e.name ? `${where} (${e.name})` : where;
  const unknown = Object.keys(e).find((k) => !FIELDS.has(k));
  if (unknown) {
    throw new InventoryError(
      `${label}: unknown field "${unknown}"; the fields are address, name, kind, labels`,
    );
  }
  if (typeof e.name !== 'string' || e.name.trim() === '') {
    throw new InventoryError(`${label}: name is missing; give every entry a name`);
  }
  if (typeof e.address !== 'string') {
    throw new InventoryError(
      `${label}: address is missing; give an address or a CIDR, e.g. 10.0.0.0/8`,
    );
  }
  if (!(INVENTORY_KINDS as readonly unknown[]).includes(e.kind)) {
    throw new InventoryError(
      `${label}: kind ${JSON.stringify(e.kind)}: expected one of ${INVENTORY_KINDS.join(', ')}`,
    );
  }
  const labels = e.labels ?? {};
  if (
    typeof labels !== 'object' ||
    labels === null ||
    Array.isArray(labels) ||
    Object.values(labels).some((v) => typeof v !== 'string')
  ) {
    throw new InventoryError(
      `${label}: labels must be an object of strings, e.g. {"site": "fra1"}`,
    );
  }
  return {
    address: e.address,
    name: e.name,
    kind: e.kind as InventoryKind,
    labels: labels as Record<string, string>,
  };
}

function toPrefix(entry: InventoryEntry, where: string): Prefix {
  let range: AddressRange;
  try {
    range = addressRange(entry.address);
  } catch (err) {
    if (!(err instanceof ResetFilterError)) throw err;
    throw new InventoryError(
      `${where}: address ${entry.address}: expected an address or a CIDR, e.g. 10.0.0.1, 10.0.0.0/8 or fd00::/64`,
      { cause: err },
    );
  }
  const [address = '', bitsText] = entry.address.split('/');
  const v4 = !address.includes(':');
  const bits = bitsText === undefined ? 128 : Number(bitsText) + (v4 ? 96 : 0);
  // 10.0.0.1/8 is almost always a typo for 10.0.0.0/8 or 10.0.0.1/32: ask which.
  if (!ipv6Bytes(address).equals(range.first)) {
    throw new InventoryError(
      `${where}: ${entry.address} has host bits set; write the network (${canonicalAddress(range.firstText)}/${bitsText}) or a single address`,
    );
  }
  return { entry, range, bits };
}
