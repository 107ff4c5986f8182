// What the query verbs share to reach the collector: its address (--server,
// else $RSTSCOPE_SERVER, else the default), where they write, and how a failed
// query ends the command.
import { formatHostPort, HOST_PORT_FORM, parseHostPort } from '../collector/query/host-port.js';
import { DEFAULT_QUERY_ADDRESS } from '../collector/query/query-limits.js';
import { QueryClient, QueryClientError } from './query-client.js';

export interface CommandOutput {
  write(text: string): unknown;
}

export interface CommandIo {
  stdout: CommandOutput;
  stderr: CommandOutput;
}

/** The address as HOST:PORT; `fail` makes the one-line usage error for a bad value. */
export function collectorAddress(
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
 * Runs `use` with a client of the collector at `server` and closes it; a query
 * that fails (unreachable, refused, timed out) becomes one line and exit code 1.
 */
export async function withCollector(
  verb: string,
  server: string,
  io: CommandIo,
  use: (client: QueryClient) => Promise<number>,
): Promise<number> {
  const client = new QueryClient(server);
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
