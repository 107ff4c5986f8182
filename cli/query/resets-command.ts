// `rstscope resets`: the stored resets that match a filter, newest first (or
// oldest first), each with its diagnosis (ListResets, page after page).
import type { ListResetsRequest, Reset } from '../../proto/index.js';
import type { CollectorConnection } from '../collector-connection.js';
import { CONNECTION_OPTIONS } from '../collector-connection.js';
import type { QueryClient } from '../query-client.js';
import { textTable } from '../text-table.js';
import {
  JSON_OPTION,
  LIMIT_OPTION,
  QUERY_VERB_OPTIONS,
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
import { FILTER_OPTIONS, FILTER_USAGE, resetFilter } from './reset-filter-flags.js';
import { RESET_COLUMNS, resetRow } from './reset-text.js';

const DEFAULT_SINCE = '1h';
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 100_000;
// The server's largest page; fewer round trips for a large --limit.
const MAX_PAGE = 10_000;

export const RESETS_USAGE = `usage: rstscope resets [--limit N] [--oldest-first] [filters] [options]

Lists the stored resets that match the filters, newest first: time, host,
direction, the flow as that host saw it, the socket's state, the kernel's
reason, and the diagnosis (origin and cause). --json prints each reset with
all its fields and its diagnosis.
  --limit N           at most N resets (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})
  --oldest-first      from the start of the window instead of its end
${FILTER_USAGE}
${windowUsage(DEFAULT_SINCE)}
${QUERY_VERB_OPTIONS}

examples:
  rstscope resets --since 15m
  rstscope resets --address 10.2.0.2 --port 80 --direction received
  rstscope resets --origin injected --limit 1000 --json`;

interface ResetsConfig {
  connection: CollectorConnection;
  json: boolean;
  limit: number;
  request: ListResetsRequest;
}

function loadResetsConfig(argv: string[], env: NodeJS.ProcessEnv): ResetsConfig {
  const { values, positionals } = parseVerbArgs('resets', argv, {
    ...CONNECTION_OPTIONS,
    ...JSON_OPTION,
    ...LIMIT_OPTION,
    ...WINDOW_OPTIONS,
    ...FILTER_OPTIONS,
    'oldest-first': { type: 'boolean', default: false },
  });
  noPositionals('resets', positionals);
  return {
    connection: verbConnection(values, env),
    json: values.json,
    limit: limitFrom(values.limit, DEFAULT_LIMIT, MAX_LIMIT),
    request: {
      filter: resetFilter(values, windowFrom(values, DEFAULT_SINCE)),
      page_size: 0,
      page_token: '',
      oldest_first: values['oldest-first'],
    },
  };
}

export function runResetsCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: QueryIo = STANDARD_IO,
): Promise<number> {
  return runQueryVerb(
    'resets',
    io,
    () => loadResetsConfig(argv, env),
    async (client, config, track) => {
      const { resets, more } = await track(listResets(client, config.request, config.limit));
      if (config.json) {
        io.stdout.write(jsonLines(resets));
      } else if (resets.length) {
        io.stdout.write(textTable(RESET_COLUMNS, resets.map(resetRow)).join('\n') + '\n');
      }
      const count = `${resets.length} reset${resets.length === 1 ? '' : 's'}`;
      if (more) io.stderr.write(`${count} (more match; --limit raises the limit)\n`);
      else if (!config.json) io.stderr.write(`${count}\n`);
      return 0;
    },
  );
}

/** Pages until `limit` resets or the last page; `more` when the server had more. */
export async function listResets(
  client: QueryClient,
  request: ListResetsRequest,
  limit: number,
  pageSize = MAX_PAGE,
): Promise<{ resets: Reset[]; more: boolean }> {
  const resets: Reset[] = [];
  let token = '';
  do {
    const page = await client.listResets({
      ...request,
      page_size: Math.min(limit - resets.length, pageSize),
      page_token: token,
    });
    resets.push(...page.resets.slice(0, limit - resets.length));
    // An empty page that still promises more would loop forever.
    token = page.resets.length ? page.next_page_token : '';
  } while (token !== '' && resets.length < limit);
  return { resets, more: token !== '' };
}
