// `rstscope watch`: resets as agents report them, one line each, until Ctrl-C
// (WatchResets, a server stream fed from NATS, not from storage).
import type { ResetFilter, WatchResetsResponse } from '../../proto/index.js';
import type { CollectorConnection } from '../collector-connection.js';
import { CONNECTION_OPTIONS } from '../collector-connection.js';
import {
  JSON_OPTION,
  QUERY_VERB_OPTIONS,
  QueryVerbUsageError,
  STANDARD_IO,
  noPositionals,
  parseVerbArgs,
  runQueryVerb,
  verbConnection,
} from './query-verb.js';
import type { QueryIo } from './query-verb.js';
import { FILTER_OPTIONS, FILTER_USAGE, resetFilter } from './reset-filter-flags.js';
import { resetLine, skippedLine } from './reset-text.js';

export const WATCH_USAGE = `usage: rstscope watch [filters] [options]

Prints resets as the agents report them, one line each: time (UTC), host,
direction, the flow, the socket's state, the kernel's reason or the fate of a
received RST, TTLs, and the process. Runs until Ctrl-C. A watch that cannot
keep up is told how many resets it missed. Resets that just happened are not
diagnosed yet: use 'rstscope resets' or 'explain' for their cause.
${FILTER_USAGE}
                      (--origin and --cause do not apply: a reset just seen is not diagnosed)
${QUERY_VERB_OPTIONS}
                      (--json: each reset with all its fields; missed resets on stderr)

examples:
  rstscope watch
  rstscope watch --host web-1 --direction received
  rstscope watch --address 10.2.0.0/16 --port 443 --json | jq .event.reason`;

interface WatchConfig {
  connection: CollectorConnection;
  json: boolean;
  filter: ResetFilter;
}

/** stdout as a watch uses it: `once('drain')` lets a slow reader slow the stream. */
interface WatchOutput {
  write(text: string): unknown;
  once?(event: 'drain', listener: () => void): unknown;
}

function loadWatchConfig(argv: string[], env: NodeJS.ProcessEnv): WatchConfig {
  const { values, positionals } = parseVerbArgs('watch', argv, {
    ...CONNECTION_OPTIONS,
    ...JSON_OPTION,
    ...FILTER_OPTIONS,
  });
  noPositionals('watch', positionals);
  // The server would refuse them too, but only after connecting, and as exit 1.
  if (values.origin !== undefined || values.cause !== undefined) {
    throw new QueryVerbUsageError(
      "--origin and --cause are decided after both ends are matched: use 'rstscope resets' or 'rstscope top'",
    );
  }
  return {
    connection: verbConnection(values, env),
    json: values.json,
    filter: resetFilter(values, undefined),
  };
}

/**
 * Runs until `stop` aborts (default: SIGINT or SIGTERM), which ends it with
 * exit 0; a stream that fails or that the collector ends is one line, exit 1.
 */
export function runWatchCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: QueryIo = STANDARD_IO,
  stop?: AbortSignal,
): Promise<number> {
  return runQueryVerb(
    'watch',
    io,
    () => loadWatchConfig(argv, env),
    (client, config) =>
      new Promise<number>((resolve, reject) => {
        const stream = client.watchResets({ filter: config.filter });
        const out = io.stdout as WatchOutput;
        const signals = stop ? undefined : signalsAbort();
        const signal = stop ?? signals!.signal;
        let done = false;
        const finish = (settle: () => void) => {
          if (done) return;
          done = true;
          signal.removeEventListener('abort', cancel);
          signals?.dispose();
          settle();
        };
        const cancel = () => stream.cancel();
        if (signal.aborted) cancel();
        else signal.addEventListener('abort', cancel, { once: true });
        if (io.stderr.isTTY) {
          io.stderr.write(`watching resets on ${config.connection.server} (Ctrl-C stops)\n`);
        }
        stream.on('data', (response: WatchResetsResponse) => {
          let text = '';
          if (response.skipped !== '0' && response.skipped !== '') {
            if (config.json) io.stderr.write(`${skippedLine(response.skipped)}\n`);
            else text += `${skippedLine(response.skipped)}\n`;
          }
          text += config.json
            ? `${JSON.stringify(response.reset)}\n`
            : `${resetLine(response.reset)}\n`;
          // A full pipe pauses the stream; the server then counts what it skips.
          if (out.write(text) === false && out.once) {
            stream.pause();
            out.once('drain', () => stream.resume());
          }
        });
        // Headers come once the collector's NATS subscription stands: from then on
        // an error is the collector's answer (shutting down, NATS gone), not an absent collector.
        let answered = false;
        stream.once('metadata', () => (answered = true));
        stream.on('error', (err) =>
          finish(() => (signal.aborted ? resolve(0) : reject(client.describe(err, answered)))),
        );
        stream.on('end', () =>
          finish(() => {
            if (signal.aborted) return resolve(0);
            io.stderr.write(
              `rstscope watch: the collector at ${config.connection.server} ended the watch ` +
                '(was it stopped or restarted? run the watch again)\n',
            );
            resolve(1);
          }),
        );
      }),
  );
}

/** Aborts on SIGINT or SIGTERM while the watch runs; dispose() restores their default. */
function signalsAbort(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.on('SIGINT', abort);
  process.on('SIGTERM', abort);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
    },
  };
}
