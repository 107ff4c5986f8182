// `rstscope top`: the commonest causes of resets (or origins, hosts, services,
// ports, namespaces, workloads, service pairs) over a window, as a table or
// JSON lines.
import type { CollectorConnection } from '../collector-connection.js';
import { CONNECTION_OPTIONS } from '../collector-connection.js';
import type { TopCausesRequest, TopCausesRow } from '../../proto/index.js';
import type { TableColumn } from '../text-table.js';
import { textTable } from '../text-table.js';
import { FILTER_OPTIONS, FILTER_USAGE, resetFilter } from './reset-filter-flags.js';
import {
  JSON_OPTION,
  LIMIT_OPTION,
  QUERY_VERB_OPTIONS,
  QueryVerbUsageError,
  STANDARD_IO,
  jsonLines,
  limitFrom,
  noPositionals,
  parseVerbArgs,
  runQueryVerb,
  WINDOW_OPTIONS,
  windowFrom,
  windowUsage,
  verbConnection,
} from './query-verb.js';
import type { QueryIo } from './query-verb.js';
import { formatUnixNs, windowText } from './timestamps.js';

type Group = TopCausesRequest['group_by'][number];

/** The --by names and the API's groups, in the order people read them. */
const GROUPS = {
  cause: 'TOP_CAUSES_GROUP_CAUSE',
  origin: 'TOP_CAUSES_GROUP_ORIGIN',
  host: 'TOP_CAUSES_GROUP_HOST',
  service: 'TOP_CAUSES_GROUP_SERVICE',
  port: 'TOP_CAUSES_GROUP_PORT',
  namespace: 'TOP_CAUSES_GROUP_NAMESPACE',
  workload: 'TOP_CAUSES_GROUP_WORKLOAD',
  pair: 'TOP_CAUSES_GROUP_SERVICE_PAIR',
} as const satisfies Record<string, Group>;
type GroupName = keyof typeof GROUPS;

/** The row fields each --by name sets: a pair is two, client and server. */
const GROUP_FIELDS: Record<GroupName, readonly (keyof TopCausesRow)[]> = {
  cause: ['cause'],
  origin: ['origin'],
  host: ['host'],
  service: ['service'],
  port: ['port'],
  namespace: ['namespace'],
  workload: ['workload'],
  pair: ['client', 'server'],
};

const DEFAULT_BY: readonly GroupName[] = ['cause', 'origin'];
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 1_000;
const DEFAULT_SINCE = '1h';

export const TOP_USAGE = `usage: rstscope top [--by FIELD,...] [--limit N] [filters] [options]

Counts the resets in a window by cause and origin (or by the fields of --by),
commonest first, with the number of hosts that saw them and an example.
  --by FIELD,...      group by ${Object.keys(GROUPS).join(', ')} (default ${DEFAULT_BY.join(',')});
                      service is the flow's server end (address:port), port its port;
                      namespace and workload the server end's (a ClusterIP's workload
                      is its service); pair is client → server by name: the client's
                      workload and the server's service (docs/query.md)
  --limit N           the N largest groups (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})
${FILTER_USAGE}
${windowUsage(DEFAULT_SINCE)}
${QUERY_VERB_OPTIONS}

examples:
  rstscope top --since 24h
  rstscope top --by service,cause --origin injected
  rstscope top --by host --cause idle_timeout --json
  rstscope top --by pair --namespace shop --since 24h`;

interface TopConfig {
  connection: CollectorConnection;
  json: boolean;
  by: GroupName[];
  request: TopCausesRequest;
}

function loadTopConfig(argv: string[], env: NodeJS.ProcessEnv): TopConfig {
  const { values, positionals } = parseVerbArgs('top', argv, {
    ...CONNECTION_OPTIONS,
    ...JSON_OPTION,
    ...LIMIT_OPTION,
    ...WINDOW_OPTIONS,
    ...FILTER_OPTIONS,
    by: { type: 'string' },
  });
  noPositionals('top', positionals);
  const by = values.by === undefined ? [...DEFAULT_BY] : groupNames(values.by);
  return {
    connection: verbConnection(values, env),
    json: values.json,
    by,
    request: {
      filter: resetFilter(values, windowFrom(values, DEFAULT_SINCE)),
      group_by: by.map((name) => GROUPS[name]),
      limit: limitFrom(values.limit, DEFAULT_LIMIT, MAX_LIMIT),
    },
  };
}

export function runTopCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: QueryIo = STANDARD_IO,
): Promise<number> {
  return runQueryVerb(
    'top',
    io,
    () => loadTopConfig(argv, env),
    async (client, config, track) => {
      const response = await track(client.topCauses(config.request));
      if (config.json) {
        io.stdout.write(jsonLines(response.rows.map((row) => rowJson(row, config.by))));
        return 0;
      }
      const span = windowText(config.request.filter);
      if (response.rows.length === 0) {
        io.stderr.write(`no resets matched, ${span}\n`);
        return 0;
      }
      io.stdout.write(topTable(response.rows, config.by).join('\n') + '\n');
      io.stderr.write(
        `${response.total_resets} reset${response.total_resets === '1' ? '' : 's'} matched, ${span}\n`,
      );
      return 0;
    },
  );
}

/** resets, hosts, the grouped fields, first and last seen, an example. */
function topTable(rows: readonly TopCausesRow[], by: readonly GroupName[]): string[] {
  const columns: TableColumn[] = [
    { name: 'resets', numeric: true },
    { name: 'hosts', numeric: true },
    ...by.flatMap((name) =>
      GROUP_FIELDS[name].map((field) => ({ name: field, numeric: field === 'port' })),
    ),
    { name: 'first' },
    { name: 'last' },
    { name: 'example' },
  ];
  return textTable(
    columns,
    rows.map((row) => ({
      ...groupValues(row, by),
      resets: row.resets,
      hosts: row.hosts,
      first: formatUnixNs(row.first_unix_ns, 3),
      last: formatUnixNs(row.last_unix_ns, 3),
      example: row.example,
    })),
  );
}

/** Only the grouped fields: the others are empty by the API's contract. */
function rowJson(row: TopCausesRow, by: readonly GroupName[]) {
  return {
    ...groupValues(row, by),
    resets: row.resets,
    hosts: row.hosts,
    first_unix_ns: row.first_unix_ns,
    last_unix_ns: row.last_unix_ns,
    example: row.example,
  };
}

function groupValues(row: TopCausesRow, by: readonly GroupName[]): Record<string, string | number> {
  return Object.fromEntries(
    by.flatMap((name) => GROUP_FIELDS[name].map((field) => [field, row[field]])),
  );
}

function groupNames(text: string): GroupName[] {
  const names = text.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(name in GROUPS)) {
      throw new QueryVerbUsageError(
        `--by ${text}: expected a comma-separated list of ${Object.keys(GROUPS).join(', ')}`,
      );
    }
  }
  if (new Set(names).size !== names.length) {
    throw new QueryVerbUsageError(`--by ${text}: each field once`);
  }
  return names as GroupName[];
}
