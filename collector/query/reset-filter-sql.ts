// A parsed ResetFilter as SQL conditions with bound parameters. Each query
// names the columns it has: reset_causes has both ends as both sides saw them
// (local/remote and peer_local/peer_remote), injected_resets only its own.
import type { QueryParams } from './rpc-queries.js';
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
  return { where: where.join('\n  AND '), params };
}
