// HOST:PORT as people write it, for the listen address and --server alike.

export interface HostPort {
  /** Without brackets, e.g. ::1. */
  host: string;
  port: number;
}

/** Parses host:port or [v6]:port; undefined when it is neither. */
export function parseHostPort(address: string): HostPort | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s/]+)):(\d{1,5})$/.exec(address);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65_535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export const HOST_PORT_FORM = 'HOST:PORT, e.g. 127.0.0.1:7470 or [::1]:7470';
