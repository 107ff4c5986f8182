// What the query verbs share to reach the collector: its address (--server,
// else $RSTSCOPE_SERVER, else the default), how to secure the channel, where
// they write, and how a failed query ends the command.
import { formatHostPort, HOST_PORT_FORM, parseHostPort } from '../collector/query/host-port.js';
import { DEFAULT_QUERY_ADDRESS } from '../collector/query/query-limits.js';
import { isLoopback } from '../collector/query/server-security.js';
import { clientSecurity, SECURITY_OPTIONS, SECURITY_USAGE } from './client-security.js';
import type { SecurityValues } from './client-security.js';
import { QueryClient, QueryClientError } from './query-client.js';
import type { QueryClientOptions } from './query-client.js';

export interface CommandOutput {
  write(text: string): unknown;
}

export interface CommandIo {
  stdout: CommandOutput;
  stderr: CommandOutput;
}

export interface CollectorConnection {
  /** HOST:PORT of the collector's query service. */
  server: string;
  /** TLS and bearer token; default: plain text, no token. */
  client: QueryClientOptions;
}

/** The parseArgs options every query verb takes to reach the collector. */
export const CONNECTION_OPTIONS = {
  server: { type: 'string' },
  ...SECURITY_OPTIONS,
} as const;

export const CONNECTION_USAGE = `  --server HOST:PORT  the collector's query address
                      (default: $RSTSCOPE_SERVER or ${DEFAULT_QUERY_ADDRESS})
${SECURITY_USAGE}`;

/** The connection from the verb's parsed CONNECTION_OPTIONS and the environment. */
export function collectorConnection(
  values: { server?: string } & SecurityValues,
  env: NodeJS.ProcessEnv,
  fail: (message: string) => Error,
): CollectorConnection {
  const server = collectorAddress(values.server, env, fail);
  const client = clientSecurity(values, env, fail);
  // The collector refuses a token without TLS off loopback; the client must not
  // hand its token to the network in clear text either (a wrong --server would get it).
  if (client.token !== undefined && client.tls === undefined && !isLoopback(server)) {
    throw fail(
      `a bearer token to ${server} without TLS would cross the network in clear text: ` +
        "add --ca FILE (the CA of the collector's certificate) or --tls",
    );
  }
  return { server, client };
}

/** The address as HOST:PORT; `fail` makes the one-line usage error for a bad value. */
function collectorAddress(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  fail: (message: string) => Error,
): string {
  const text = flag ?? env.RSTSCOPE_SERVER ?? DEFAULT_QUERY_ADDRESS;
  const parsed = parseHostPort(text);
  if (!parsed) {
    throw fail(
      `${flag === undefined ? 'RSTSCOPE_SERVER' : '--server'} ${text}: expected ${HOST_PORT_FORM}`,
    );
  }
  return formatHostPort(parsed);
}

/**
 * Runs `use` with a client of the collector and closes it; a query that fails
 * (unreachable, refused, timed out) becomes one line and exit code 1.
 */
export async function withCollector(
  verb: string,
  connection: CollectorConnection,
  io: CommandIo,
  use: (client: QueryClient) => Promise<number>,
): Promise<number> {
  const client = new QueryClient(connection.server, connection.client);
  try {
    return await use(client);
  } catch (err) {
    if (!(err instanceof QueryClientError)) throw err;
    io.stderr.write(`rstscope ${verb}: ${err.message}\n`);
    return 1;
  } finally {
    client.close();
  }
}
