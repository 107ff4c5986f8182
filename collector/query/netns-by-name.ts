// A namespace name (as under /run/netns) → the namespaces of that name, per host,
// as each host's agent last reported them in its heartbeat. Names are per host:
// "web" on two nodes is two namespaces.
import type { Storage } from '../storage/storage.js';
import { netnsKey } from './reset-filter-match.js';
import type { NetnsSet } from './reset-filter-match.js';

const LATEST_NAMED = `
SELECT host, arrayFilter((inode, name) -> name = {name:String}, last_netns, last_names) AS inodes
FROM (
    SELECT host, argMax(netns, ts) AS last_netns, argMax(netns_names, ts) AS last_names
    FROM agents
    WHERE {host:String} = '' OR host = {host:String}
    GROUP BY host
)
WHERE notEmpty(inodes)`;

/** Empty when no host's latest heartbeat names such a namespace. */
export async function netnsByName(
  storage: Pick<Storage, 'query'>,
  name: string,
  host = '',
): Promise<NetnsSet> {
  const rows = await storage.query<{ host: string; inodes: number[] }>(LATEST_NAMED, {
    name,
    host,
  });
  return new Set(rows.flatMap((row) => row.inodes.map((inode) => netnsKey(row.host, inode))));
}
