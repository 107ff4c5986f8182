// Text form of the 16-byte addresses in a record (IPv4 arrives v4-mapped).

/** ::ffff:a.b.c.d — tested word by word: this runs twice per reset. */
function isV4Mapped(bytes: Uint8Array, at: number): boolean {
  for (let i = at; i < at + 10; i++) if (bytes[i] !== 0) return false;
  return bytes[at + 10] === 0xff && bytes[at + 11] === 0xff;
}

/**
 * Dotted quad for v4-mapped addresses, RFC 5952 text for the rest; the 16
 * bytes at `at` (a record is read in place, without a view per address).
 */
export function formatAddress(buffer: Uint8Array, at = 0): string {
  if (isV4Mapped(buffer, at)) {
    return `${buffer[at + 12]}.${buffer[at + 13]}.${buffer[at + 14]}.${buffer[at + 15]}`;
  }
  const bytes = buffer.subarray(at, at + 16);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // RFC 5952: shorten the longest run of two or more zero groups, the first if tied.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLen).join(':');
  return `${head}::${tail}`;
}
