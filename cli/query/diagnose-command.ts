// `rstscope diagnose [--since 1h]`: the top causes of resets and the middleboxes
// that injected them, for a person at a terminal (TopCauses and Middleboxes).
import { causeById } from '../../collector/diagnosis/causes.js';
import type { MiddleboxesRequest, TopCausesRequest } from '../../proto/index.js';
import type { CollectorConnection } from '../collector-connection.js';
import { CONNECTION_OPTIONS } from '../collector-connection.js';
import { textTable } from '../text-table.js';
import { middleboxTable } from './middlebox-table.js';
import {
  JSON_OPTION,
  QUERY_VERB_OPTIONS,
  STANDARD_IO,
  jsonLines,
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
import type { TimeWindow } from './time-window.js';

const DEFAULT_SINCE = '1h';
const TOP = 10;

export const DIAGNOSE_USAGE = `usage: rstscope diagnose [filters] [options]

Prints the top causes of the resets in a window and the middleboxes that
injected resets in it (grouped by path, with hop distance, TTL and IP-ID
signature, and for idle kills the bracket of the idle timeout).
${FILTER_USAGE}
${windowUsage(DEFAULT_SINCE)}
${QUERY_VERB_OPTIONS}

examples:
  rstscope diagnose
  rstscope diagnose --since 24h --address 10.2.0.0/16
  rstscope diagnose --host web-1 --json`;

interface DiagnoseConfig {
  connection: CollectorConnection;
  json: boolean;
  window: TimeWindow;
  causes: TopCausesRequest;
  middleboxes: MiddleboxesRequest;
}

function loadDiagnoseConfig(argv: string[], env: NodeJS.ProcessEnv): DiagnoseConfig {
  const { values, positionals } = parseVerbArgs('diagnose', argv, {
    ...CONNECTION_OPTIONS,
    ...JSON_OPTION,
    ...WINDOW_OPTIONS,
    ...FILTER_OPTIONS,
  });
  noPositionals('diagnose', positionals);
  const connection = verbConnection(values, env);
  const window = windowFrom(values, DEFAULT_SINCE);
  const filter = resetFilter(values, window);
  return {
    connection,
    json: values.json,
    window,
    causes: {
      filter,
      group_by: ['TOP_CAUSES_GROUP_CAUSE', 'TOP_CAUSES_GROUP_ORIGIN'],
      limit: TOP,
    },
    middleboxes: { filter, limit: TOP },
  };
}

export function runDiagnoseCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: QueryIo = STANDARD_IO,
): Promise<number> {
  return runQueryVerb(
    'diagnose',
    io,
    () => loadDiagnoseConfig(argv, env),
    async (client, config, track) => {
      const [causes, boxes] = await track(
        Promise.all([client.topCauses(config.causes), client.middleboxes(config.middleboxes)]),
      );
      if (config.json) {
        io.stdout.write(
          jsonLines([
            ...causes.rows.map((row) => ({
              top_cause: {
                cause: row.cause,
                origin: row.origin,
                resets: row.resets,
                hosts: row.hosts,
                first_unix_ns: row.first_unix_ns,
                last_unix_ns: row.last_unix_ns,
                example: row.example,
              },
            })),
            ...boxes.middleboxes.map((middlebox) => ({ middlebox })),
          ]),
        );
        return 0;
      }
      const span = `${config.window.from.toISOString()} → ${config.window.to.toISOString()}`;
      if (causes.rows.length === 0) {
        io.stdout.write(`No resets matched, ${span}.\n`);
        return 0;
      }
      const lines = [`Top causes of resets, ${span}`, ''];
      lines.push(
        ...textTable(
          [
            { name: 'resets', numeric: true },
            { name: 'hosts', numeric: true },
            { name: 'cause' },
            { name: 'origin' },
            { name: 'example' },
          ],
          causes.rows.map((row) => ({
            ...row,
            example: row.example || (causeById(row.cause)?.title ?? ''),
          })),
        ),
      );
      const injected = boxes.middleboxes.length > 0;
      lines.push('', injected ? 'Middleboxes that injected resets' : 'No injected resets.');
      if (injected) lines.push('', ...middleboxTable(boxes.middleboxes));
      io.stdout.write(lines.join('\n') + '\n');
      return 0;
    },
  );
}
