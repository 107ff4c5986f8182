// `rstscope explain <addr:port> [<addr:port>]`: the story of one flow's resets.
import type { QueryClient } from '../query-client.js';
import { quoteString } from '../../collector/storage/ddl.js';
import { withCollector } from '../collector-connection.js';
import type { CommandIo } from '../collector-connection.js';
import { ENDPOINT_FORM, parseEndpoint } from '../../collector/diagnosis/endpoint.js';
import type { Endpoint } from '../../collector/diagnosis/endpoint.js';
import { flowStories } from '../../collector/diagnosis/flow-story.js';
import type { CauseRow } from '../../collector/diagnosis/flow-story.js';
import {
  QUERY_VERB_OPTIONS,
  QueryVerbUsageError,
  inWindow,
  loadQueryVerbConfig,
  queryRows,
} from './query-verb.js';

export const EXPLAIN_USAGE = `usage: rstscope explain ADDRESS[:PORT] [ADDRESS[:PORT]] [options]

Tells the story of the resets of one flow (or of every flow of one endpoint):
who received each reset, who sent it or that no endpoint did, what the TTLs
say about where it came from, its cause and what to do about it. Either end
may be given as that end or the other saw it (before or after NAT).
${QUERY_VERB_OPTIONS}
                      (default window: --since 24h)

examples:
  rstscope explain 10.1.0.2:41234 10.2.0.2:80
  rstscope explain 10.2.0.2:80 --since 1h`;

const MAX_RESETS = 200;

/** An endpoint is in a row if either end, as either side saw it, is that endpoint. */
function endpointMatch(name: string, e: Endpoint): string {
  const ends = [
    ['local_addr', 'local_port'],
    ['remote_addr', 'remote_port'],
    ['peer_local_addr', 'peer_local_port'],
    ['peer_remote_addr', 'peer_remote_port'],
  ];
  return `(${ends
    .map(([addr, port]) =>
      e.port === undefined
        ? `${addr} = {${name}:IPv6}`
        : `(${addr} = {${name}:IPv6} AND ${port} = {${name}_port:UInt16})`,
    )
    .join(' OR ')})`;
}

export async function runExplainCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CommandIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let config;
  let endpoints: Endpoint[];
  try {
    config = loadQueryVerbConfig('explain', argv, env, '24h');
    if (config.positionals.length < 1 || config.positionals.length > 2) {
      throw new QueryVerbUsageError(`expected one or two endpoints, ${ENDPOINT_FORM}`);
    }
    endpoints = config.positionals.map((text) => {
      const e = parseEndpoint(text);
      if (!e) throw new QueryVerbUsageError(`${text}: expected ${ENDPOINT_FORM}`);
      return e;
    });
  } catch (err) {
    if (!(err instanceof QueryVerbUsageError)) throw err;
    io.stderr.write(`rstscope explain: ${err.message}\n`);
    return 2;
  }
  const params: Record<string, string> = {};
  endpoints.forEach((e, i) => {
    params[`e${i}`] = e.address;
    if (e.port !== undefined) params[`e${i}_port`] = String(e.port);
  });
  const where = endpoints.map((e, i) => endpointMatch(`e${i}`, e)).join(' AND ');
  return withCollector('explain', config.connection, io, async (client) => {
    const rows = await queryRows<CauseRow>(
      client,
      `SELECT * FROM reset_causes WHERE ${inWindow()} AND ${where}
         ORDER BY ts, direction DESC LIMIT ${MAX_RESETS}`,
      config.window,
      params,
    );
    if (rows.length === 0) {
      io.stderr.write(
        `rstscope explain: no reset of ${endpoints.map((e) => e.text).join(' ↔ ')} between ${config.window.from.toISOString()} and ${config.window.to.toISOString()}; widen the window with --since\n`,
      );
      return 1;
    }
    if (config.json) {
      for (const row of rows) io.stdout.write(`${JSON.stringify(row)}\n`);
      return 0;
    }
    const pathTtls = await ordinaryTtls(client, rows, config.window);
    const stories = flowStories(rows, (host, addr) => pathTtls.get(`${host} ${addr}`));
    io.stdout.write(stories.map((lines) => lines.join('\n')).join('\n\n') + '\n');
    if (rows.length === MAX_RESETS) io.stderr.write(`(first ${MAX_RESETS} resets only)\n`);
    return 0;
  });
}

/**
 * The TTL a host sees on the remote end's ordinary segments, from its other
 * resets: a refused connect saw none on its own socket.
 */
async function ordinaryTtls(
  client: QueryClient,
  rows: readonly CauseRow[],
  window: { from: Date; to: Date },
): Promise<Map<string, number>> {
  const wanted = rows.filter((r) => r.rst_ttl !== null && r.peer_ttl === null);
  if (wanted.length === 0) return new Map();
  // Array parameters are bound in ClickHouse's text form: ['a', 'b'].
  const list = (values: string[]) => `[${[...new Set(values)].map(quoteString).join(', ')}]`;
  const found = await queryRows<{ host: string; remote_addr: string; ttl: number }>(
    client,
    `SELECT host, remote_addr, anyLast(peer_ttl) AS ttl FROM resets
     WHERE host IN {hosts:Array(String)} AND remote_addr IN {addrs:Array(IPv6)}
       AND peer_ttl IS NOT NULL
     GROUP BY host, remote_addr`,
    window,
    { hosts: list(wanted.map((r) => r.host)), addrs: list(wanted.map((r) => r.remote_addr)) },
  );
  return new Map(found.map((f) => [`${f.host} ${f.remote_addr}`, f.ttl]));
}
