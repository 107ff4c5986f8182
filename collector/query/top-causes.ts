// rstscope.v1.Query/TopCauses: resets counted by cause, origin, host, service
// or port, the largest groups first.
import type { TopCausesRequest, TopCausesResponse, TopCausesRow } from '../../proto/index.js';
import { addressText } from '../diagnosis/cause-view.js';
import type { QueryServiceDeps } from './query-deps.js';
import { RpcArgumentError, unaryHandler } from './rpc-failure.js';
import { parseResetFilter } from './reset-filter.js';
import { resetFilterSql } from './reset-filter-sql.js';

export const DEFAULT_TOP_CAUSES_LIMIT = 10;
export const MAX_TOP_CAUSES_LIMIT = 1000;

/** Linux's default net.ipv4.ip_local_port_range: where a client's source port comes from. */
export const EPHEMERAL_PORTS = { first: 32_768, last: 60_999 } as const;

type Group = 'cause' | 'origin' | 'host' | 'service' | 'port';

const GROUPS: Record<string, Group> = {
  TOP_CAUSES_GROUP_CAUSE: 'cause',
  TOP_CAUSES_GROUP_ORIGIN: 'origin',
  TOP_CAUSES_GROUP_HOST: 'host',
  TOP_CAUSES_GROUP_SERVICE: 'service',
  TOP_CAUSES_GROUP_PORT: 'port',
};

const DEFAULT_GROUPS: readonly Group[] = ['cause', 'origin'];

// The flow's server end as this row's host saw it: the end whose port is not
// ephemeral; when both or neither are, the lower port (a listener's ports are
// the low, well-known ones far more often than not).
const ephemeral = (port: string) =>
  `(${port} BETWEEN ${EPHEMERAL_PORTS.first} AND ${EPHEMERAL_PORTS.last})`;
const LOCAL_IS_SERVER = `if(${ephemeral('local_port')} = ${ephemeral('remote_port')},
    local_port <= remote_port, ${ephemeral('remote_port')})`;
const SERVER_ADDR = `if(${LOCAL_IS_SERVER}, local_addr, remote_addr)`;
const SERVER_PORT = `if(${LOCAL_IS_SERVER}, local_port, remote_port)`;

const GROUP_SQL: Record<Group, string> = {
  cause: 'cause',
  origin: 'origin',
  host: 'host',
  service: `if(isIPv4String(${addressText('server_addr')}),
      concat(${addressText('server_addr')}, ':', toString(server_port)),
      concat('[', toString(server_addr), ']:', toString(server_port)))`,
  port: 'server_port',
};

interface GroupRow {
  cause?: string;
  origin?: string;
  host?: string;
  service?: string;
  port?: number;
  resets: string;
  hosts: string;
  first_ns: string;
  last_ns: string;
  example: string;
  total: string;
}

export function topCausesHandler(deps: QueryServiceDeps) {
  return unaryHandler<TopCausesRequest, TopCausesResponse>(
    'TopCauses',
    deps,
    async (request, queries) => {
      const limit = request.limit || DEFAULT_TOP_CAUSES_LIMIT;
      if (limit > MAX_TOP_CAUSES_LIMIT) {
        throw new RpcArgumentError(`limit ${limit}: at most ${MAX_TOP_CAUSES_LIMIT}`);
      }
      const groups = groupsOf(request.group_by);
      const { where, params } = resetFilterSql(parseResetFilter(request.filter));
      const keys = groups.map((g) => `${GROUP_SQL[g]} AS ${g}`).join(', ');
      const rows = await queries.rows<GroupRow>(
        `SELECT ${keys},
                count() AS resets,
                uniqExact(host) AS hosts,
                toString(toUnixTimestamp64Nano(min(ts))) AS first_ns,
                toString(toUnixTimestamp64Nano(max(ts))) AS last_ns,
                if(countIf(detail != '') > 0, anyIf(detail, detail != ''), any(cause_title)) AS example,
                sum(count()) OVER () AS total
         FROM (SELECT *, ${SERVER_ADDR} AS server_addr, ${SERVER_PORT} AS server_port
               FROM reset_causes WHERE ${where})
         GROUP BY ${groups.join(', ')}
         ORDER BY resets DESC, ${groups.join(', ')}
         LIMIT ${limit}`,
        params,
        limit,
      );
      return {
        rows: rows.map((r) => topCausesRow(r)),
        total_resets: rows[0]?.total ?? '0',
      };
    },
  );
}

function groupsOf(requested: readonly string[] | undefined): Group[] {
  const groups: Group[] = [];
  for (const name of requested ?? []) {
    if (name === 'TOP_CAUSES_GROUP_UNSPECIFIED') continue;
    const group = GROUPS[name];
    if (!group) {
      throw new RpcArgumentError(
        `group_by ${name}: expected any of ${Object.keys(GROUPS).join(', ')}`,
      );
    }
    if (!groups.includes(group)) groups.push(group);
  }
  return groups.length ? groups : [...DEFAULT_GROUPS];
}

function topCausesRow(r: GroupRow): TopCausesRow {
  return {
    cause: r.cause ?? '',
    origin: r.origin ?? '',
    host: r.host ?? '',
    service: r.service ?? '',
    port: r.port ?? 0,
    resets: r.resets,
    hosts: r.hosts,
    first_unix_ns: r.first_ns,
    last_unix_ns: r.last_ns,
    example: r.example,
    namespace: '',
    workload: '',
    client: '',
    server: '',
  };
}
