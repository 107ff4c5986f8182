// An endpoint as people type it: 10.0.1.2:41234, [fd00::2]:80, or an address
// alone for every port. Stored addresses are IPv6 with IPv4 v4-mapped.
import { isIPv4, isIPv6 } from 'node:net';

export interface Endpoint {
  /** As the store holds it: ::ffff:a.b.c.d for IPv4. */
  address: string;
  /** Undefined: any port. */
  port?: number;
  /** As typed, for messages. */
  text: string;
}

export const ENDPOINT_FORM = 'ADDRESS[:PORT], e.g. 10.0.1.2:41234, [fd00::2]:80 or 10.0.2.2';

export function parseEndpoint(text: string): Endpoint | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const v4 = /^([\d.]+)(?::(\d+))?$/.exec(text);
  const [address, port] = bracketed
    ? [bracketed[1]!, bracketed[2]]
    : v4
      ? [v4[1]!, v4[2]]
      : [text, undefined];
  if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65_535)) return undefined;
  if (isIPv4(address)) return { address: `::ffff:${address}`, port: num(port), text };
  if (isIPv6(address)) return { address, port: num(port), text };
  return undefined;
}

const num = (port: string | undefined) => (port === undefined ? undefined : Number(port));

/** How an address reads to people: IPv4 without its ::ffff: prefix. */
export function addressForPeople(address: string): string {
  return address.replace(/^::ffff:(?=\d+\.)/, '');
}

export function endpointText(address: string, port: number | string): string {
  const a = addressForPeople(address);
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}

/** Who an end is by name: namespace/name, or the name alone (a node, an inventory entry); '' when unnamed. */
export function endName(end: { namespace: string; name: string }): string {
  if (!end.name) return '';
  return end.namespace ? `${end.namespace}/${end.name}` : end.name;
}
