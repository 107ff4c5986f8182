// `rstscope explain <addr:port> [<addr:port>]`: the story of one flow's resets,
// as the collector tells it (ExplainFlow).
import { status as GrpcStatus } from '@grpc/grpc-js';
import { ENDPOINT_FORM, parseEndpoint } from '../../collector/diagnosis/endpoint.js';
import type { ExplainFlowRequest } from '../../proto/index.js';
import type { CollectorConnection } from '../collector-connection.js';
import { CONNECTION_OPTIONS } from '../collector-connection.js';
import { QueryClientError } from '../query-client.js';
import {
  JSON_OPTION,
  LIMIT_OPTION,
  QUERY_VERB_OPTIONS,
  QueryVerbUsageError,
  STANDARD_IO,
  jsonLines,
  limitFrom,
  parseVerbArgs,
  runQueryVerb,
  WINDOW_OPTIONS,
  windowFrom,
  windowUsage,
  verbConnection,
} from './query-verb.js';
import type { QueryIo } from './query-verb.js';
import { unixNs } from './time-window.js';
import type { TimeWindow } from './time-window.js';

const DEFAULT_SINCE = '24h';
const DEFAULT_LIMIT = 200;
const MAX_LIMIT = 1_000;

export const EXPLAIN_USAGE = `usage: rstscope explain ADDRESS[:PORT] [ADDRESS[:PORT]] [options]

Tells the story of the resets of one flow (or of every flow of one endpoint):
who received each reset, who sent it or that no endpoint did, what the TTLs
say about where it came from, its cause and what to do about it. Either end
may be given as that end or the other saw it (before or after NAT).
  --limit N           at most N resets (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})
${windowUsage(DEFAULT_SINCE)}
${QUERY_VERB_OPTIONS}
                      (--json: the stories' resets, with their diagnosis)

examples:
  rstscope explain 10.1.0.2:41234 10.2.0.2:80
  rstscope explain 10.2.0.2:80 --since 1h
  rstscope explain '[fd00:2::2]:443' --from 2026-11-21T10:00:00Z --to 2026-11-21T11:00:00Z`;

interface ExplainConfig {
  connection: CollectorConnection;
  json: boolean;
  window: TimeWindow;
  request: ExplainFlowRequest;
}

function loadExplainConfig(argv: string[], env: NodeJS.ProcessEnv): ExplainConfig {
  const { values, positionals } = parseVerbArgs('explain', argv, {
    ...CONNECTION_OPTIONS,
    ...JSON_OPTION,
    ...LIMIT_OPTION,
    ...WINDOW_OPTIONS,
  });
  if (positionals.length < 1 || positionals.length > 2) {
    throw new QueryVerbUsageError(`expected one or two endpoints, ${ENDPOINT_FORM}`);
  }
  for (const text of positionals) {
    if (!parseEndpoint(text)) throw new QueryVerbUsageError(`${text}: expected ${ENDPOINT_FORM}`);
  }
  const connection = verbConnection(values, env);
  const window = windowFrom(values, DEFAULT_SINCE);
  return {
    connection,
    json: values.json,
    window,
    request: {
      endpoints: positionals,
      from_unix_ns: unixNs(window.from),
      to_unix_ns: unixNs(window.to),
      limit: limitFrom(values.limit, DEFAULT_LIMIT, MAX_LIMIT),
    },
  };
}

export function runExplainCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: QueryIo = STANDARD_IO,
): Promise<number> {
  return runQueryVerb(
    'explain',
    io,
    () => loadExplainConfig(argv, env),
    async (client, config, track) => {
      const notFound = () => {
        const { from, to } = config.window;
        io.stderr.write(
          `rstscope explain: no reset of ${config.request.endpoints.join(' ↔ ')} between ` +
            `${from.toISOString()} and ${to.toISOString()}; widen the window with --since or --from/--to\n`,
        );
        return 1;
      };
      let response;
      try {
        response = await track(client.explainFlow(config.request));
      } catch (err) {
        if (err instanceof QueryClientError && err.code === GrpcStatus.NOT_FOUND) return notFound();
        throw err;
      }
      if (response.stories.length === 0) return notFound();
      if (config.json) {
        io.stdout.write(jsonLines(response.stories.flatMap((story) => story.resets)));
      } else {
        const text = response.stories.map((story) => story.lines.join('\n')).join('\n\n');
        io.stdout.write(`${text}\n`);
      }
      if (response.truncated) {
        io.stderr.write(
          `(the first ${config.request.limit} resets only; --limit or a narrower window shows the rest)\n`,
        );
      }
      return 0;
    },
  );
}
