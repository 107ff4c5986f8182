// Addresses in SQL as people write them. Stored addresses are IPv6 with IPv4
// v4-mapped (::ffff:a.b.c.d).

/** An address as people write it: IPv4 without the ::ffff: prefix. */
export const addressText = (column: string) =>
  `replaceRegexpOne(toString(${column}), '^::ffff:', '')`;

/** address:port, [v6]:port: the SQL twin of endpointText() in endpoint.ts. */
export const endpointSql = (address: string, port: string) =>
  `if(position(${addressText(address)}, ':') > 0,
      concat('[', ${addressText(address)}, ']:', toString(${port})),
      concat(${addressText(address)}, ':', toString(${port})))`;
