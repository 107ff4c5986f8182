// One text per address, so that a pod IP from the API and an address from a
// reset event meet in the same Map key: IPv4 dotted (also when v4-mapped),
// IPv6 in RFC 5952 form (the WHATWG URL serializer writes exactly that).
import { isIP } from 'node:net';

// The serializer writes ::ffff:10.1.2.3 as ::ffff:a01:203.
const V4_MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/** The canonical text of an address, or undefined if `text` is not one. */
export function canonicalAddress(text: string): string | undefined {
  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6) return undefined;
  const host = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const mapped = V4_MAPPED_HEX.exec(host);
  if (!mapped) return host;
  const high = parseInt(mapped[1]!, 16);
  const low = parseInt(mapped[2]!, 16);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}
