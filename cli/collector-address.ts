// Where the query verbs find the collector: --server, else $RSTSCOPE_SERVER,
// else the default query address.
import { formatHostPort, HOST_PORT_FORM, parseHostPort } from '../collector/query/host-port.js';
import { DEFAULT_QUERY_ADDRESS } from '../collector/query/query-limits.js';

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
