// Which end of a flow is its server: the one rule for the SQL views (the
// server_* and client_* columns of reset_evidence) and for live events
// (WatchResets' --service), so a stored reset and the same reset watched live
// agree on who served it.

/** Linux's default net.ipv4.ip_local_port_range: where a client's source port comes from. */
export const EPHEMERAL_PORTS = { first: 32_768, last: 60_999 } as const;

const ephemeral = (port: number) => port >= EPHEMERAL_PORTS.first && port <= EPHEMERAL_PORTS.last;

/**
 * Whether the local end is the server: the end whose port is not ephemeral;
 * when both or neither are, the lower port (a listener's ports are the low,
 * well-known ones far more often than not).
 */
export function localIsServer(localPort: number, remotePort: number): boolean {
  const local = ephemeral(localPort);
  const remote = ephemeral(remotePort);
  return local === remote ? localPort <= remotePort : remote;
}

const ephemeralSql = (port: string) =>
  `(${port} BETWEEN ${EPHEMERAL_PORTS.first} AND ${EPHEMERAL_PORTS.last})`;

/** localIsServer() in SQL, over two port columns. */
export function localIsServerSql(localPort = 'local_port', remotePort = 'remote_port'): string {
  return `if(${ephemeralSql(localPort)} = ${ephemeralSql(remotePort)},
    ${localPort} <= ${remotePort}, ${ephemeralSql(remotePort)})`;
}
