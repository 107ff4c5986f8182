// `rstscope middleboxes`: the boxes that injected resets, grouped by path, with
// their fingerprint (hop, TTL, IP ID) and idle-timeout bracket (Middleboxes).
import type { MiddleboxesRequest } from '../../proto/index.js';
import type { CollectorConnection } from '../collector-connection.js';
import { CONNECTION_OPTIONS } from '../collector-connection.js';
import { middleboxTable } from './middlebox-table.js';
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
import { windowText } from './timestamps.js';

const DEFAULT_SINCE = '1h';
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1_000;

export const MIDDLEBOXES_USAGE = `usage: rstscope middleboxes [--limit N] [filters] [options]

Lists the middleboxes that injected resets in a window: the path (the host
that received the resets → the end it talked to), the kind (reject_on_connect,
mid_stream, idle_kill), the hop distance from the RST's TTL, the IP-ID
signature, and for idle kills the bracket of the idle timeout with the known
products whose default lies in it. --json adds example flows and event ids.
  --limit N           the N busiest (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})
${FILTER_USAGE}
                      (--origin and --cause do not apply: every such reset is injected)
${windowUsage(DEFAULT_SINCE)}
${QUERY_VERB_OPTIONS}

examples:
  rstscope middleboxes --since 24h
  rstscope middleboxes --address 10.2.0.0/16 --port 443
  rstscope middleboxes --host web-1 --json`;

interface MiddleboxesConfig {
  connection: CollectorConnection;
  json: boolean;
  request: MiddleboxesRequest;
}

function loadMiddleboxesConfig(argv: string[], env: NodeJS.ProcessEnv): MiddleboxesConfig {
  const { values, positionals } = parseVerbArgs('middleboxes', argv, {
    ...CONNECTION_OPTIONS,
    ...JSON_OPTION,
    ...LIMIT_OPTION,
    ...WINDOW_OPTIONS,
    ...FILTER_OPTIONS,
  });
  noPositionals('middleboxes', positionals);
  return {
    connection: verbConnection(values, env),
    json: values.json,
    request: {
      filter: resetFilter(values, windowFrom(values, DEFAULT_SINCE)),
      limit: limitFrom(values.limit, DEFAULT_LIMIT, MAX_LIMIT),
    },
  };
}

export function runMiddleboxesCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: QueryIo = STANDARD_IO,
): Promise<number> {
  return runQueryVerb(
    'middleboxes',
    io,
    () => loadMiddleboxesConfig(argv, env),
    async (client, config, track) => {
      const { middleboxes } = await track(client.middleboxes(config.request));
      if (config.json) {
        io.stdout.write(jsonLines(middleboxes));
        return 0;
      }
      const span = windowText(config.request.filter);
      if (middleboxes.length === 0) {
        io.stderr.write(`no injected resets, ${span}\n`);
        return 0;
      }
      io.stdout.write(middleboxTable(middleboxes).join('\n') + '\n');
      io.stderr.write(
        `${middleboxes.length} middlebox${middleboxes.length === 1 ? '' : 'es'}, ${span}\n`,
      );
      return 0;
    },
  );
}
