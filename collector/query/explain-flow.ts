// rstscope.v1.Query/ExplainFlow: the story of one flow's resets (or of every
// flow of one endpoint), told on the server from reset_causes.
import type { ExplainFlowRequest, ExplainFlowResponse } from '../../proto/index.js';
import { ENDPOINT_FORM, parseEndpoint } from '../diagnosis/endpoint.js';
import type { Endpoint } from '../diagnosis/endpoint.js';
import { tellStories } from '../diagnosis/flow-story.js';
import type { QueryServiceDeps } from './query-deps.js';
import { RpcArgumentError, RpcNotFoundError, unaryHandler } from './rpc-failure.js';
import { stringArray } from './rpc-queries.js';
import type { QueryParams, RpcQueries } from './rpc-queries.js';
import { CAUSE_COLUMNS, resetMessages } from './reset-message.js';
import type { StoredCause } from './reset-message.js';
import { parseResetFilter } from './reset-filter.js';
import { RESET_CAUSES_COLUMNS, resetFilterSql } from './reset-filter-sql.js';
import type { FilterColumns, FilterSql } from './reset-filter-sql.js';
import { causesSource, scopeOfResets } from './scoped-causes.js';

export const DEFAULT_EXPLAIN_LIMIT = 200;
export const MAX_EXPLAIN_LIMIT = 1000;

/**
 * An endpoint is in a row if either end, as either side saw it, is that
 * endpoint: the columns a filter's address and port match, address and port of
 * one end together.
 */
function endpointMatch(
  name: string,
  e: Endpoint,
  { addresses, ports }: FilterColumns = RESET_CAUSES_COLUMNS,
): string {
  return `(${addresses
    .map((addr, i) =>
      e.port === undefined
        ? `${addr} = {${name}:IPv6}`
        : `(${addr} = {${name}:IPv6} AND ${ports[i]} = {${name}_port:UInt16})`,
    )
    .join(' OR ')})`;
}

export function explainFlowHandler(deps: QueryServiceDeps) {
  return unaryHandler<ExplainFlowRequest, ExplainFlowResponse>(
    'ExplainFlow',
    deps,
    async (request, queries) => {
      const texts = request.endpoints ?? [];
      if (texts.length < 1 || texts.length > 2) {
        throw new RpcArgumentError(
          `endpoints: expected one or two, ${ENDPOINT_FORM}; got ${texts.length}`,
        );
      }
      const endpoints = texts.map((text) => {
        const e = parseEndpoint(text);
        if (!e) throw new RpcArgumentError(`endpoint ${text}: expected ${ENDPOINT_FORM}`);
        return e;
      });
      const limit = request.limit || DEFAULT_EXPLAIN_LIMIT;
      if (limit > MAX_EXPLAIN_LIMIT) {
        throw new RpcArgumentError(`limit ${limit}: at most ${MAX_EXPLAIN_LIMIT}`);
      }
      const window = parseResetFilter({
        from_unix_ns: request.from_unix_ns,
        to_unix_ns: request.to_unix_ns,
      });
      // A filter of the window alone: its SQL is the window's conditions.
      const windowSql = resetFilterSql(window);
      const params: QueryParams = { ...windowSql.params };
      endpoints.forEach((e, i) => {
        params[`e${i}`] = e.address;
        if (e.port !== undefined) params[`e${i}_port`] = String(e.port);
      });
      const where = endpoints.map((e, i) => endpointMatch(`e${i}`, e)).join(' AND ');
      const source = await causesSource(queries, window.fromNs, (from) =>
        flowScope(queries, endpoints, params, { fromNs: from, toNs: window.toNs }),
      );
      const found = await queries.rows<StoredCause>(
        `SELECT ${CAUSE_COLUMNS} FROM (${source.sql}) WHERE ${windowSql.where} AND ${where}
         ORDER BY ts, direction DESC, event_id LIMIT ${limit + 1}`,
        { ...params, ...source.params },
        limit + 1,
      );
      if (found.length === 0) {
        throw new RpcNotFoundError(
          `no reset of ${endpoints.map((e) => e.text).join(' ↔ ')} between ` +
            `${isoOf(window.fromNs)} and ${isoOf(window.toNs)}; widen the window`,
        );
      }
      const rows = found.slice(0, limit);
      const pathTtls = await ordinaryTtls(queries, rows, windowSql);
      const stories = tellStories(rows, (host, addr) => pathTtls.get(`${host} ${addr}`));
      const resets = new Map(
        (await resetMessages(queries, rows)).map((reset) => [reset.event_id, reset]),
      );
      return {
        stories: stories.map((story) => ({
          resets: story.rows.flatMap((r) => resets.get(r.event_id) ?? []),
          lines: story.lines,
        })),
        truncated: found.length > limit,
      };
    },
  );
}

/** A stored row's own ends (no peer's: a row matches through its peer only near that peer). */
const OWN_ENDS: FilterColumns = {
  addresses: ['local_addr', 'remote_addr'],
  ports: ['local_port', 'remote_port'],
  diagnosis: false,
};

/**
 * Where the flow's resets are: a row names an endpoint through its own ends or
 * through its matched peer's, and a peer is near its row, so the stored rows
 * with each endpoint on their own ends, from a reach before the window to a
 * reach after it, say which resets to diagnose: where all endpoints' rows
 * meet. The sort key and the address bloom filters find them without reading
 * the table.
 */
function flowScope(
  queries: RpcQueries,
  endpoints: readonly Endpoint[],
  params: QueryParams,
  window: { fromNs: bigint; toNs: bigint },
) {
  return scopeOfResets(
    queries,
    window,
    endpoints.map((e, i) => endpointMatch(`e${i}`, e, OWN_ENDS)),
    params,
  );
}

/**
 * The TTL a host sees on the remote end's ordinary segments, from its other
 * resets in the window: a refused connect saw none on its own socket.
 */
async function ordinaryTtls(
  queries: RpcQueries,
  rows: readonly StoredCause[],
  window: FilterSql,
): Promise<Map<string, number>> {
  const wanted = rows.filter((r) => r.rst_ttl !== null && r.peer_ttl === null);
  if (wanted.length === 0) return new Map();
  const found = await queries.rows<{ host: string; remote_addr: string; ttl: number }>(
    `SELECT CAST(host AS String) AS host, remote_addr, anyLast(peer_ttl) AS ttl FROM resets
     WHERE ${window.where}
       AND host IN {hosts:Array(String)} AND remote_addr IN {addrs:Array(IPv6)}
       AND peer_ttl IS NOT NULL
     GROUP BY host, remote_addr`,
    {
      ...window.params,
      hosts: stringArray(wanted.map((r) => r.host)),
      addrs: stringArray(wanted.map((r) => r.remote_addr)),
    },
    wanted.length,
  );
  return new Map(found.map((f) => [`${f.host} ${f.remote_addr}`, f.ttl]));
}

function isoOf(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}
