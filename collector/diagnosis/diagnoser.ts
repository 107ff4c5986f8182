// The diagnoser: writes reset_causes' rows into the stored diagnoses
// (stored-diagnoses.ts) once a reset has settled, a pass every few seconds.
//
// A reset's diagnosis depends on the resets within DIAGNOSIS_REACH_S of it and
// on the heartbeats that say who watched its ends. A pass diagnoses the resets
// from the progress mark to SETTLE_MS ago, when their peers' records and the
// heartbeats covering them have normally arrived (a heartbeat every 10 s, the
// pipeline's p99 under 2 s). What arrives later anyway (an agent catching up
// on a backlog) is found by inserted_at: the resets near a late reset, and
// those a late heartbeat covers, are diagnosed again.
import type { SqlRunner } from '../storage/sql-runner.js';
import { DIAGNOSIS_REACH_S, resetCausesSelect } from './cause-view.js';
import { EVENT_ID } from './evidence-view.js';
import { DIAGNOSES_PROGRESS_TABLE, DIAGNOSES_TABLE } from './stored-diagnoses.js';

/** How old a reset is before it is diagnosed for good. */
export const DEFAULT_SETTLE_MS = 60_000;
/** The most one pass diagnoses, so catching up on a day of resets is many bounded passes. */
export const MAX_PASS_SPAN_MS = 3_600_000;
/**
 * Rows whose insert began before a pass read but became visible after it:
 * the next pass looks this far before the previous one's start for late rows.
 */
const VISIBILITY_SLACK_MS = 10_000;

const NS_PER_MS = 1_000_000n;
const REACH_NS = BigInt(DIAGNOSIS_REACH_S) * 1_000_000_000n;

export type DiagnoserRunner = Pick<SqlRunner, 'command' | 'query'>;

export interface PassResult {
  /** The span diagnosed for the first time, [from, until) in ns; equal when none. */
  fromNs: bigint;
  untilNs: bigint;
  /** Whether the mark reached the settled resets: the next pass has at most a few seconds to do. */
  caughtUp: boolean;
  /** The span diagnosed again because late rows arrived in it, when any. */
  redone?: { fromNs: bigint; toNs: bigint };
}

interface Progress {
  until_ns: string;
  pass_started_ns: string;
}

/** Diagnoses and stores the resets of [fromNs, toNs): the view's rows for them. */
async function store(runner: DiagnoserRunner, fromNs: bigint, toNs: bigint): Promise<void> {
  const scope = `ts >= fromUnixTimestamp64Nano({scope_from:Int64})
    AND ts < fromUnixTimestamp64Nano({scope_to:Int64})`;
  await runner.command(
    `INSERT INTO ${DIAGNOSES_TABLE}
     SELECT * FROM (${resetCausesSelect(scope)})
     WHERE ts >= fromUnixTimestamp64Nano({from:Int64}) AND ts < fromUnixTimestamp64Nano({to:Int64})`,
    {
      scope_from: String(fromNs - REACH_NS),
      scope_to: String(toNs + REACH_NS),
      from: String(fromNs),
      to: String(toNs),
    },
  );
}

/**
 * One pass: diagnoses again what late rows changed below the mark, then the
 * settled resets above it (at most MAX_PASS_SPAN_MS of them), and moves the mark.
 */
export async function diagnosePass(
  runner: DiagnoserRunner,
  settleMs = DEFAULT_SETTLE_MS,
): Promise<PassResult> {
  const [clock] = await runner.query<{ now_ns: string }>(
    'SELECT toString(toUnixTimestamp64Nano(now64(9))) AS now_ns',
  );
  const passStarted = BigInt(clock!.now_ns);
  const [progress] = await runner.query<Progress>(
    `SELECT toString(toUnixTimestamp64Nano(until)) AS until_ns,
            toString(toUnixTimestamp64Nano(pass_started)) AS pass_started_ns
     FROM ${DIAGNOSES_PROGRESS_TABLE} ORDER BY until DESC LIMIT 1`,
  );
  const result: PassResult = { fromNs: 0n, untilNs: 0n, caughtUp: false };
  let from: bigint;
  if (progress) {
    from = BigInt(progress.until_ns);
    const redo = await lateSpan(runner, BigInt(progress.pass_started_ns), from);
    if (redo) {
      // Deleted then written again: a query in between misses these rows'
      // diagnoses for a moment, as it would miss rows still being inserted.
      await runner.command(
        `DELETE FROM ${DIAGNOSES_TABLE}
         WHERE ts >= fromUnixTimestamp64Nano({from:Int64}) AND ts < fromUnixTimestamp64Nano({to:Int64})`,
        { from: String(redo.fromNs), to: String(redo.toNs) },
      );
      await store(runner, redo.fromNs, redo.toNs);
      result.redone = redo;
    }
  } else {
    const [oldest] = await runner.query<{ n: string; from_ns: string }>(
      'SELECT count() AS n, toString(toUnixTimestamp64Nano(min(ts))) AS from_ns FROM resets',
    );
    if (!oldest || oldest.n === '0') return { ...result, caughtUp: true };
    from = BigInt(oldest.from_ns);
  }
  const settled = passStarted - BigInt(settleMs) * NS_PER_MS;
  result.fromNs = from;
  result.untilNs = from;
  if (settled <= from) return { ...result, caughtUp: true };
  // Hours without a reset (a quiet night) are passed over, not diagnosed.
  const [next] = await runner.query<{ n: string; first_ns: string }>(
    `SELECT count() AS n, toString(toUnixTimestamp64Nano(min(ts))) AS first_ns FROM resets
     WHERE ts >= fromUnixTimestamp64Nano({from:Int64}) AND ts < fromUnixTimestamp64Nano({to:Int64})`,
    { from: String(from), to: String(settled) },
  );
  const first = next && next.n !== '0' ? BigInt(next.first_ns) : settled;
  const until = minOf(settled, first + BigInt(MAX_PASS_SPAN_MS) * NS_PER_MS);
  if (first < until) await store(runner, first, until);
  await runner.command(
    `INSERT INTO ${DIAGNOSES_PROGRESS_TABLE} (until, pass_started)
     SELECT fromUnixTimestamp64Nano({until:Int64}), fromUnixTimestamp64Nano({started:Int64})`,
    { until: String(until), started: String(passStarted) },
  );
  result.untilNs = until;
  result.caughtUp = until === settled;
  return result;
}

/**
 * The diagnosed span ([.., until)) that rows stored since the previous pass
 * began change: around each late reset, its reach; for an agent run with a
 * late heartbeat or a new address (an address counts from the run's start,
 * coverage-view.ts), the run's covered span and the reach of the peers that
 * read it.
 */
async function lateSpan(
  runner: DiagnoserRunner,
  previousPassStarted: bigint,
  until: bigint,
): Promise<{ fromNs: bigint; toNs: bigint } | undefined> {
  const params = {
    since: String(previousPassStarted - BigInt(VISIBILITY_SLACK_MS) * NS_PER_MS),
    until: String(until),
  };
  const since = 'fromUnixTimestamp64Nano({since:Int64})';
  const below = 'fromUnixTimestamp64Nano({until:Int64})';
  const late = await runner.query<{ n: string; from_ns: string; to_ns: string }>(
    `SELECT count() AS n, toString(toUnixTimestamp64Nano(min(span_from))) AS from_ns,
            toString(toUnixTimestamp64Nano(max(span_to))) AS to_ns
     FROM (
         SELECT ts AS span_from, ts AS span_to FROM (${missedResets(since, below)})
         UNION ALL
         SELECT min(covered_from) AS span_from, max(ts) AS span_to FROM agents
         WHERE (host, boot_id, run_id) IN
               (SELECT host, boot_id, run_id FROM agents WHERE inserted_at >= ${since})
         GROUP BY host, boot_id, run_id
         HAVING span_from < ${below}
            AND (countIf(inserted_at >= ${since} AND ts < ${below}) > 0
                 OR NOT hasAll(groupUniqArrayArrayIf(addresses, inserted_at < ${since}),
                               groupUniqArrayArrayIf(addresses, inserted_at >= ${since})))
     )`,
    params,
  );
  const row = late[0];
  if (!row || row.n === '0') return undefined;
  const fromNs = BigInt(row.from_ns) - REACH_NS;
  const toNs = minOf(BigInt(row.to_ns) + REACH_NS, until);
  return toNs > fromNs ? { fromNs, toNs } : undefined;
}

/**
 * Resets stored since the previous pass began (less the slack) below the
 * mark that no pass diagnosed: an insert that became visible after the pass
 * read. Those it did read have their diagnoses, and so have their neighbours.
 */
function missedResets(since: string, below: string): string {
  const recent = `SELECT ts, ${EVENT_ID} AS event_id FROM resets
    WHERE inserted_at >= ${since} AND ts < ${below}`;
  return `
    WITH recent AS (${recent}),
         span AS (SELECT min(ts) AS first, max(ts) AS last FROM recent)
    SELECT ts FROM recent
    WHERE event_id NOT IN (
        SELECT event_id FROM ${DIAGNOSES_TABLE}
        WHERE ts >= (SELECT first FROM span) AND ts <= (SELECT last FROM span))`;
}

const minOf = (a: bigint, b: bigint) => (a < b ? a : b);
