// A parsed ResetFilter as SQL conditions with bound parameters. Each query
// names the columns it has: reset_causes has both ends as both sides saw them
// (local/remote and peer_local/peer_remote), injected_resets only its own.
// Names (namespace, workload, service, pod) match the client_* and server_*
// columns both have (diagnosis/flow-end-columns.ts): the row's two ends.
import type { QueryParams } from './rpc-queries.js';
import type { NameFilters } from './name-filters.js';
import type { ParsedResetFilter } from './reset-filter.js';

export interface FilterColumns {
  /** A prefix for every column, e.g. 'i.' inside a join. */
  prefix?: string;
  /** Address columns an address or CIDR may match. */
  addresses: readonly string[];
  /** Port columns a port may match, in the order of their addresses. */
  ports: readonly string[];
  /** Whether direction, origin, cause and netns apply (the source has those columns). */
  diagnosis: boolean;
}

/** reset_causes: either end of the flow, as either side saw it (before or after NAT). */
export const RESET_CAUSES_COLUMNS: FilterColumns = {
  addresses: ['local_addr', 'remote_addr', 'peer_local_addr', 'peer_remote_addr'],
  ports: ['local_port', 'remote_port', 'peer_local_port', 'peer_remote_port'],
  diagnosis: true,
};

export interface FilterSql {
  /** Conditions joined with AND; never empty (the window always applies). */
  where: string;
  params: QueryParams;
}

export function resetFilterSql(
  filter: ParsedResetFilter,
  columns: FilterColumns = RESET_CAUSES_COLUMNS,
): FilterSql {
  const c = (name: string) => `${columns.prefix ?? ''}${name}`;
  const params: QueryParams = {
    f_from: String(filter.fromNs),
    f_to: String(filter.toNs),
  };
  const where = [
    `${c('ts')} >= fromUnixTimestamp64Nano({f_from:Int64})`,
    `${c('ts')} <= fromUnixTimestamp64Nano({f_to:Int64})`,
  ];
  if (filter.host !== undefined) {
    where.push(`${c('host')} = {f_host:String}`);
    params.f_host = filter.host;
  }
  if (filter.address) {
    params.f_addr_first = filter.address.firstText;
    params.f_addr_last = filter.address.lastText;
    where.push(
      `(${columns.addresses
        .map((a) => `${c(a)} BETWEEN {f_addr_first:IPv6} AND {f_addr_last:IPv6}`)
        .join(' OR ')})`,
    );
  }
  if (filter.port !== undefined) {
    params.f_port = String(filter.port);
    where.push(`(${columns.ports.map((p) => `${c(p)} = {f_port:UInt16}`).join(' OR ')})`);
  }
  if (columns.diagnosis) {
    for (const field of ['direction', 'origin', 'cause'] as const) {
      const value = filter[field];
      if (value === undefined) continue;
      where.push(`${c(field)} = {f_${field}:String}`);
      params[`f_${field}`] = value;
    }
    if (filter.netns && 'inode' in filter.netns) {
      where.push(`${c('netns')} = {f_netns:UInt32}`);
      params.f_netns = String(filter.netns.inode);
    } else if (filter.netns) {
      // Inodes are per host: a name stands for the inode each host's agent
      // reported under it, so the pair (host, inode) is what matches.
      where.push(
        `(${c('host')}, ${c('netns')}) IN (
           SELECT DISTINCT CAST(host AS String),
                  arrayJoin(arrayFilter((inode, name) -> name = {f_netns_name:String}, netns, netns_names))
           FROM agents WHERE has(netns_names, {f_netns_name:String}))`,
      );
      params.f_netns_name = filter.netns.name;
    }
  }
  where.push(...nameConditions(filter, c, params));
  return { where: where.join('\n  AND '), params };
}

/** The filter's Kubernetes names, with the meaning name-filters.ts gives them on live events. */
function nameConditions(
  filter: NameFilters,
  c: (name: string) => string,
  params: QueryParams,
): string[] {
  const where: string[] = [];
  const either = (test: (role: string) => string) =>
    `(${test(c('client_'))} OR ${test(c('server_'))})`;
  if (filter.namespace !== undefined) {
    params.f_namespace = filter.namespace;
    where.push(either((end) => `${end}namespace = {f_namespace:String}`));
  }
  if (filter.workload) {
    const { kind, name } = filter.workload;
    // Kind/name exactly; a name alone as the part after Kind/ (names hold no '/').
    params.f_workload = kind === undefined ? `/${name}` : `${kind}/${name}`;
    where.push(
      either((end) =>
        kind === undefined
          ? `endsWith(${end}workload, {f_workload:String})`
          : `${end}workload = {f_workload:String}`,
      ),
    );
  }
  if (filter.service) {
    const { namespace, name } = filter.service;
    params.f_service = namespace === undefined ? `/${name}` : `${namespace}/${name}`;
    where.push(
      namespace === undefined
        ? `arrayExists(s -> endsWith(s, {f_service:String}), ${c('server_services')})`
        : `has(${c('server_services')}, {f_service:String})`,
    );
  }
  if (filter.pod) {
    const { namespace, name } = filter.pod;
    params.f_pod = name;
    if (namespace !== undefined) params.f_pod_namespace = namespace;
    where.push(
      either(
        (end) =>
          `(${end}kind = 'pod' AND ${end}name = {f_pod:String}` +
          `${namespace === undefined ? '' : ` AND ${end}namespace = {f_pod_namespace:String}`})`,
      ),
    );
  }
  return where;
}
