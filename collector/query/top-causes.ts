// rstscope.v1.Query/TopCauses: resets counted by cause, origin, host, service,
// port, namespace, workload or service pair, the largest groups first.
import type { TopCausesRequest, TopCausesResponse, TopCausesRow } from '../../proto/index.js';
import type { QueryServiceDeps } from './query-deps.js';
import { RpcArgumentError, unaryHandler } from './rpc-failure.js';
import { parseResetFilter } from './reset-filter.js';
import { resetFilterSql } from './reset-filter-sql.js';
import { causesSource, scopeOfStoredSpan } from './scoped-causes.js';

export const DEFAULT_TOP_CAUSES_LIMIT = 10;
export const MAX_TOP_CAUSES_LIMIT = 1000;

type Group = 'cause' | 'origin' | 'host' | 'service' | 'port' | 'namespace' | 'workload' | 'pair';

const GROUPS: Record<string, Group> = {
  TOP_CAUSES_GROUP_CAUSE: 'cause',
  TOP_CAUSES_GROUP_ORIGIN: 'origin',
  TOP_CAUSES_GROUP_HOST: 'host',
  TOP_CAUSES_GROUP_SERVICE: 'service',
  TOP_CAUSES_GROUP_PORT: 'port',
  TOP_CAUSES_GROUP_NAMESPACE: 'namespace',
  TOP_CAUSES_GROUP_WORKLOAD: 'workload',
  TOP_CAUSES_GROUP_SERVICE_PAIR: 'pair',
};

const DEFAULT_GROUPS: readonly Group[] = ['cause', 'origin'];

// Each group's columns, [name, expression]. The server and client ends are
// reset_causes' server_* and client_* (diagnosis/server-end.ts decides which
// end is which, for every view and query alike).
const GROUP_SQL: Record<Group, [string, string][]> = {
  cause: [['cause', 'cause']],
  origin: [['origin', 'origin']],
  host: [['host', 'host']],
  service: [['service', 'server_endpoint']],
  port: [['port', 'server_port']],
  namespace: [['namespace', 'server_namespace']],
  // The server's workload; a ClusterIP's is its service, a node's or an
  // inventory entry's its name; an end nothing names is its address:port.
  workload: [
    [
      'workload',
      `multiIf(server_workload != '', server_workload,
               server_kind = 'service', concat('Service/', server_name),
               server_name != '', server_name,
               server_endpoint)`,
    ],
  ],
  pair: [
    ['client', 'client_label'],
    ['server', 'server_label'],
  ],
};

interface GroupRow {
  cause?: string;
  origin?: string;
  host?: string;
  service?: string;
  port?: number;
  namespace?: string;
  workload?: string;
  client?: string;
  server?: string;
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
      const filter = parseResetFilter(request.filter);
      const { where, params } = resetFilterSql(filter);
      const source = await causesSource(queries, filter.fromNs, (from) =>
        scopeOfStoredSpan(queries, from, filter.toNs),
      );
      const columns = groups.flatMap((g) => GROUP_SQL[g]);
      const keys = columns.map(([name, expr]) => `${expr} AS ${name}`).join(', ');
      const names = columns.map(([name]) => name).join(', ');
      const rows = await queries.rows<GroupRow>(
        `SELECT ${keys},
                count() AS resets,
                uniqExact(host) AS hosts,
                toString(toUnixTimestamp64Nano(min(ts))) AS first_ns,
                toString(toUnixTimestamp64Nano(max(ts))) AS last_ns,
                if(countIf(detail != '') > 0, anyIf(detail, detail != ''), any(cause_title)) AS example,
                sum(count()) OVER () AS total
         FROM (${source.sql}) WHERE ${where}
         GROUP BY ${names}
         ORDER BY resets DESC, ${names}
         LIMIT ${limit}`,
        { ...params, ...source.params },
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
    namespace: r.namespace ?? '',
    workload: r.workload ?? '',
    client: r.client ?? '',
    server: r.server ?? '',
  };
}
