// What the query verbs share: their flags (where the collector is, the time
// window, JSON output, a limit), the one-line usage error with exit 2, and the
// call to the collector with a progress indicator and the one-line failure.
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { collectorConnection, CONNECTION_USAGE, withCollector } from '../collector-connection.js';
import type { CollectorConnection, CommandIo } from '../collector-connection.js';
import type { SecurityValues } from '../client-security.js';
import type { QueryClient } from '../query-client.js';
import { withProgress } from './progress.js';
import type { ProgressOutput, ProgressTiming } from './progress.js';
import { TimeWindowError, timeWindow } from './time-window.js';
import type { TimeWindow } from './time-window.js';

/** Bad flags or arguments; the message is one line naming the value and the form expected. */
export class QueryVerbUsageError extends Error {
  override name = 'QueryVerbUsageError';
}

export interface QueryIo extends CommandIo {
  stderr: ProgressOutput;
  /** When the progress indicator appears (default DEFAULT_PROGRESS_TIMING). */
  progressTiming?: ProgressTiming;
}

export const STANDARD_IO: QueryIo = { stdout: process.stdout, stderr: process.stderr };

export const JSON_OPTION = { json: { type: 'boolean', default: false } } as const;
export const LIMIT_OPTION = { limit: { type: 'string' } } as const;
export const WINDOW_OPTIONS = {
  since: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
} as const;

const JSON_USAGE = `  --json              one JSON object per line, for scripts`;

export function windowUsage(defaultSince: string): string {
  return `  --since AGE         the window up to now, e.g. 15m, 1h, 7d (default ${defaultSince})
  --from TIME --to TIME
                      an absolute window in UTC, e.g. 2026-11-21T10:00:00Z`;
}

/** The flags every query verb has: the collector's address and security, --json. */
export const QUERY_VERB_OPTIONS = `${CONNECTION_USAGE}
${JSON_USAGE}`;

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs, strict, with its complaint turned into a usage error that points at --help. */
export function parseVerbArgs<O extends Options>(verb: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    // parseArgs explains an ambiguous option over three lines: one line here.
    const message = (err as Error).message.replace(/\s*\n\s*/g, ' ');
    throw new QueryVerbUsageError(`${message}; see 'rstscope ${verb} --help'`, { cause: err });
  }
}

/** The collector connection from a verb's CONNECTION_OPTIONS; a bad value is a usage error. */
export function verbConnection(
  values: { server?: string } & SecurityValues,
  env: NodeJS.ProcessEnv,
): CollectorConnection {
  return collectorConnection(values, env, (message) => new QueryVerbUsageError(message));
}

export function windowFrom(
  flags: { since?: string; from?: string; to?: string },
  defaultSince: string,
): TimeWindow {
  try {
    return timeWindow(flags, defaultSince);
  } catch (err) {
    if (err instanceof TimeWindowError) throw new QueryVerbUsageError(err.message);
    throw err;
  }
}

/** --limit N: a whole number from 1 to `max`; `fallback` when not given. */
export function limitFrom(text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max) {
    throw new QueryVerbUsageError(`--limit ${text}: expected a whole number from 1 to ${max}`);
  }
  return n;
}

export function noPositionals(verb: string, positionals: readonly string[]): void {
  if (positionals.length) {
    throw new QueryVerbUsageError(
      `unexpected argument ${positionals[0]}; see 'rstscope ${verb} --help'`,
    );
  }
}

/** Wraps one call (or a few) in the progress indicator. */
export type Track = <T>(work: Promise<T>) => Promise<T>;

/**
 * Runs one verb: `load` reads flags (a usage error is one line, exit 2), then
 * `query` talks to the collector (a failed call is one line, exit 1).
 */
export async function runQueryVerb<C extends { connection: CollectorConnection }>(
  verb: string,
  io: QueryIo,
  load: () => C,
  query: (client: QueryClient, config: C, track: Track) => Promise<number>,
): Promise<number> {
  let config: C;
  try {
    config = load();
  } catch (err) {
    if (!(err instanceof QueryVerbUsageError)) throw err;
    io.stderr.write(`rstscope ${verb}: ${err.message}\n`);
    return 2;
  }
  const label = `querying ${config.connection.server}`;
  const track: Track = (work) => withProgress(io.stderr, label, work, io.progressTiming);
  return withCollector(verb, config.connection, io, (client) => query(client, config, track));
}

/** One JSON object per line. */
export function jsonLines(values: readonly unknown[]): string {
  return values.map((value) => `${JSON.stringify(value)}\n`).join('');
}
