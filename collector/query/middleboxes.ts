// rstscope.v1.Query/Middleboxes: injected resets grouped by path, the
// fingerprints of the boxes that sent them, most resets first.
import type { Middlebox, MiddleboxesRequest, MiddleboxesResponse } from '../../proto/index.js';
import { addressForPeople } from '../diagnosis/endpoint.js';
import { middleboxesSelect } from '../diagnosis/middlebox-view.js';
import type { QueryServiceDeps } from './query-deps.js';
import { RpcArgumentError, unaryHandler } from './rpc-failure.js';
import { parseResetFilter } from './reset-filter.js';
import { resetFilterSql } from './reset-filter-sql.js';

export const DEFAULT_MIDDLEBOXES_LIMIT = 50;
export const MAX_MIDDLEBOXES_LIMIT = 1000;

interface MiddleboxRow {
  source_host: string;
  destination_addr: string;
  destination_port: number;
  destination_hosts: string[];
  kind: string;
  hop_distance: number | null;
  rst_ttl: number | null;
  peer_ttl: number | null;
  ip_id_signature: string;
  resets: string;
  first_ns: string;
  last_ns: string;
  causes: string[];
  timeout_above_ms: number | null;
  timeout_at_most_ms: number | null;
  known_timeouts: string[];
  example_flows: string[];
  example_event_ids: string[];
  source_names: string[];
  destination_name: string;
}

export function middleboxesHandler(deps: QueryServiceDeps) {
  return unaryHandler<MiddleboxesRequest, MiddleboxesResponse>(
    'Middleboxes',
    deps,
    async (request, queries) => {
      const limit = request.limit || DEFAULT_MIDDLEBOXES_LIMIT;
      if (limit > MAX_MIDDLEBOXES_LIMIT) {
        throw new RpcArgumentError(`limit ${limit}: at most ${MAX_MIDDLEBOXES_LIMIT}`);
      }
      // Every middlebox reset is injected, so origin and cause are ignored, as
      // the API says; netns and direction narrow it like any other reset. The
      // path is as the receiving host saw it: no peer columns.
      const parsed = parseResetFilter(request.filter);
      delete parsed.origin;
      delete parsed.cause;
      const { where, params } = resetFilterSql(parsed, {
        prefix: 'i.',
        addresses: ['local_addr', 'remote_addr'],
        ports: ['local_port', 'remote_port'],
        diagnosis: true,
      });
      const rows = await queries.rows<MiddleboxRow>(
        `SELECT *,
                toString(toUnixTimestamp64Nano(first_seen)) AS first_ns,
                toString(toUnixTimestamp64Nano(last_seen)) AS last_ns
         FROM (${middleboxesSelect(where)})
         ORDER BY resets DESC, last_seen DESC, source_host, destination_addr, destination_port
         LIMIT ${limit}`,
        params,
        limit,
      );
      return { middleboxes: rows.map(middlebox) };
    },
  );
}

function middlebox(r: MiddleboxRow): Middlebox {
  const box: Middlebox = {
    source_host: r.source_host,
    destination_addr: addressForPeople(r.destination_addr),
    destination_port: r.destination_port,
    destination_hosts: [...r.destination_hosts].sort(),
    kind: r.kind,
    ip_id_signature: r.ip_id_signature,
    resets: r.resets,
    first_unix_ns: r.first_ns,
    last_unix_ns: r.last_ns,
    causes: [...r.causes].sort(),
    known_timeouts: r.known_timeouts,
    example_flows: r.example_flows,
    example_event_ids: r.example_event_ids,
    source_names: r.source_names,
    destination_name: r.destination_name,
  };
  if (r.hop_distance !== null) box.hop_distance = r.hop_distance;
  if (r.rst_ttl !== null) box.rst_ttl = r.rst_ttl;
  if (r.peer_ttl !== null) box.peer_ttl = r.peer_ttl;
  if (r.timeout_above_ms !== null) box.timeout_above_ms = r.timeout_above_ms;
  if (r.timeout_at_most_ms !== null) box.timeout_at_most_ms = r.timeout_at_most_ms;
  return box;
}
