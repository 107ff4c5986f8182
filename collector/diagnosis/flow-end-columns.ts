// Who each end of a reset's flow is, by name, as the collector stored it (the
// agent's pod for the local end; its Kubernetes address map or inventory for
// either end), and the same two ends as client and server (server-end.ts), so
// views and queries ask "which namespace, which workload, which service pair"
// without repeating which end is which.
import { addressText, endpointSql } from './address-sql.js';
import { localIsServerSql } from './server-end.js';

// Stored text is LowCardinality; views give plain strings (see evidence-view.ts).
const plain = (column: string) => `CAST(${column} AS String)`;

const END_FIELDS = ['kind', 'namespace', 'name', 'workload'] as const;

/** namespace/name, or the name alone when it has no namespace (a node, an inventory entry). */
export const qualifiedSql = (namespace: string, name: string) =>
  `if(${namespace} = '', ${name}, concat(${namespace}, '/', ${name}))`;

/** One end's stored columns: kind, namespace, name, workload, services. */
function storedEnd(end: 'local' | 'remote'): [string, string][] {
  return [
    ...END_FIELDS.map((f): [string, string] => [`${end}_${f}`, plain(`${end}_${f}`)]),
    [`${end}_services`, `CAST(${end}_services AS Array(String))`],
  ];
}

/** A column of the server end (or the client end): the local's or the remote's. */
function asRole(role: 'server' | 'client', field: string): [string, string] {
  const [first, second] = role === 'server' ? ['local', 'remote'] : ['remote', 'local'];
  return [`${role}_${field}`, `if(local_is_server, ${first}_${field}, ${second}_${field})`];
}

// [name, expression], in order; later expressions use earlier names. Every
// name column is '' when nothing named the end.
export const FLOW_END_COLUMNS: readonly [string, string][] = [
  // What the agent found: the pod of the socket (docs/kubernetes.md).
  ...['pod_name', 'pod_namespace', 'container_name', 'workload', 'pod_source'].map(
    (c): [string, string] => [c, plain(c)],
  ),
  ...storedEnd('local'),
  ...storedEnd('remote'),
  ['local_is_server', `CAST(${localIsServerSql()} AS Bool)`],
  asRole('server', 'addr'),
  asRole('server', 'port'),
  ['server_endpoint', endpointSql('server_addr', 'server_port')],
  asRole('client', 'addr'),
  ...[...END_FIELDS, 'services'].map((f) => asRole('server', f)),
  // A ClusterIP end's service, else the first service whose endpoints it serves.
  ['server_service', 'server_services[1]'],
  ...END_FIELDS.map((f) => asRole('client', f)),
  // The pair as TopCauses and the dashboards name it. The server: its service,
  // else its workload, else its name, else address:port. The client: its
  // workload, else its name, else its address (its port is ephemeral).
  [
    'server_label',
    `multiIf(server_service != '', server_service,
             server_workload != '', ${qualifiedSql('server_namespace', 'server_workload')},
             server_name != '', ${qualifiedSql('server_namespace', 'server_name')},
             server_endpoint)`,
  ],
  [
    'client_label',
    `multiIf(client_workload != '', ${qualifiedSql('client_namespace', 'client_workload')},
             client_name != '', ${qualifiedSql('client_namespace', 'client_name')},
             ${addressText('client_addr')})`,
  ],
];

/** The name columns by themselves, for views that pass them through. */
export const FLOW_END_NAMES: readonly string[] = FLOW_END_COLUMNS.map(([name]) => name);

/** The client and server columns alone: for views whose rows are not one end's record (flows). */
export const ROLE_NAMES: readonly string[] = FLOW_END_NAMES.filter((name) =>
  /^(server|client)_(?!addr$|port$)/.test(name),
);
