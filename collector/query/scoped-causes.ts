// Diagnosing only the resets a query asks about. reset_causes diagnoses every
// stored reset at query time; a query about one flow or one short window needs
// the diagnoses of few, and each depends only on rows within DIAGNOSIS_REACH_S
// of it (cause-view.ts). So the query first finds when its resets happened,
// in time buckets of that reach, and diagnoses the rows of those buckets and
// their neighbours alone: the same answers, from thousands of rows instead of
// the whole table.
import { DIAGNOSIS_REACH_S, resetCausesSelect } from '../diagnosis/cause-view.js';
import {
  DIAGNOSED_UNTIL_SQL,
  DIAGNOSES_PROGRESS_TABLE,
  DIAGNOSES_TABLE,
} from '../diagnosis/stored-diagnoses.js';
import { stringArray } from './rpc-queries.js';
import type { QueryParams, RpcQueries } from './rpc-queries.js';

const BUCKET = `intDiv(toUnixTimestamp(ts), ${DIAGNOSIS_REACH_S})`;

/** Most buckets a scope lists (a day is 2880); beyond it the scope is the whole span. */
const MAX_LISTED_BUCKETS = 10_000;

export interface CausesScope {
  /** reset_causes' rows for the scope: a FROM clause's subquery, without parentheses. */
  sql: string;
  params: QueryParams;
}

/**
 * The scope of the resets that can satisfy every one of `conditions`
 * (conditions on the resets table, with their parameters) through their own
 * columns or a matched peer's, among the stored resets that satisfy `span`:
 * each condition's rows, with their reach, overlap there. Undefined when
 * nothing can.
 */
export async function scopeOfResets(
  queries: RpcQueries,
  span: { fromNs: bigint; toNs: bigint },
  conditions: readonly string[],
  params: QueryParams,
): Promise<CausesScope | undefined> {
  const reach = BigInt(DIAGNOSIS_REACH_S) * 1_000_000_000n;
  const flags = conditions.map((c, i) => `(${c}) AS c${i}`).join(', ');
  const rows = await queries.rows<Record<string, string | number | boolean>>(
    `SELECT DISTINCT ${BUCKET} AS bucket, ${flags} FROM resets
     WHERE ts >= fromUnixTimestamp64Nano({near_from:Int64})
       AND ts <= fromUnixTimestamp64Nano({near_to:Int64})
       AND (${conditions.map((c) => `(${c})`).join(' OR ')})
     ORDER BY bucket LIMIT ${MAX_LISTED_BUCKETS + 1}`,
    { ...params, near_from: String(span.fromNs - reach), near_to: String(span.toNs + reach) },
    MAX_LISTED_BUCKETS + 1,
  );
  if (rows.length === 0) return undefined;
  // Too many to list: the whole span, which holds them all.
  if (rows.length > MAX_LISTED_BUCKETS) return scopeOfSpan(span.fromNs - reach, span.toNs + reach);
  // A reset matched through its peer is within the match tolerance of that
  // peer: the buckets next to each condition's rows, where all of them meet.
  const near = (buckets: Iterable<bigint>) =>
    new Set([...buckets].flatMap((b) => [b - 1n, b, b + 1n]));
  const each = conditions.map((_, i) =>
    near(rows.filter((r) => Number(r[`c${i}`]) === 1).map((r) => BigInt(r.bucket!))),
  );
  const meet = [...each[0]!].filter((b) => each.every((set) => set.has(b)));
  if (meet.length === 0) return undefined;
  const scoped = [...near(meet)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // The buckets' span as plain bounds on ts too: partitions and the sort key skip by them.
  const scope = `ts >= fromUnixTimestamp64Nano({scope_from:Int64})
    AND ts < fromUnixTimestamp64Nano({scope_to:Int64})
    AND ${BUCKET} IN {scope_buckets:Array(Int64)}`;
  return {
    sql: resetCausesSelect(scope),
    params: {
      scope_from: String(scoped[0]! * reach),
      scope_to: String((scoped[scoped.length - 1]! + 1n) * reach),
      scope_buckets: `[${scoped.join(', ')}]`,
    },
  };
}

/** The scope of a time span: every reset between fromNs and toNs, and their reach. */
export function scopeOfSpan(fromNs: bigint, toNs: bigint): CausesScope {
  const reach = BigInt(DIAGNOSIS_REACH_S) * 1_000_000_000n;
  return {
    sql: resetCausesSelect(`ts >= fromUnixTimestamp64Nano({scope_from:Int64})
      AND ts <= fromUnixTimestamp64Nano({scope_to:Int64})`),
    params: { scope_from: String(fromNs - reach), scope_to: String(toNs + reach) },
  };
}

/**
 * reset_causes' rows for the resets from fromNs on: the stored diagnoses below
 * the diagnoser's mark, and above it the live view scoped by `live` (given
 * where the undiagnosed span starts; undefined: no reset there to diagnose).
 * Without stored diagnoses (no diagnoser ran, or a cluster layout without the
 * table) everything is live.
 */
export async function causesSource(
  queries: RpcQueries,
  fromNs: bigint,
  live: (fromNs: bigint) => Promise<CausesScope | undefined> | CausesScope | undefined,
): Promise<CausesScope> {
  const until = await diagnosedUntil(queries);
  const liveFrom = until > fromNs ? until : fromNs;
  const tail = await live(liveFrom);
  if (until <= fromNs) return tail ?? NOTHING;
  const params: QueryParams = { diag_until: String(until) };
  const stored = `SELECT * FROM ${DIAGNOSES_TABLE}
    WHERE ts < fromUnixTimestamp64Nano({diag_until:Int64})`;
  if (!tail) return { sql: stored, params };
  return {
    sql: `${stored}
    UNION ALL
    SELECT * FROM (${tail.sql}) WHERE ts >= fromUnixTimestamp64Nano({diag_until:Int64})`,
    params: { ...params, ...tail.params },
  };
}

/** No rows, with reset_causes' columns. */
const NOTHING: CausesScope = { sql: 'SELECT * FROM reset_causes WHERE 0', params: {} };

/** Where the stored diagnoses end (ns), 0 when there are none. */
async function diagnosedUntil(queries: RpcQueries): Promise<bigint> {
  const tables = await queries.rows<{ name: string }>(
    `SELECT name FROM system.tables
     WHERE database = currentDatabase() AND name IN {names:Array(String)}`,
    { names: stringArray([DIAGNOSES_TABLE, DIAGNOSES_PROGRESS_TABLE]) },
    2,
  );
  if (tables.length < 2) return 0n;
  const [row] = await queries.rows<{ until_ns: string }>(DIAGNOSED_UNTIL_SQL, {}, 1);
  return BigInt(row?.until_ns ?? '0');
}

/** scopeOfSpan(), or undefined when no reset was stored between fromNs and toNs. */
export async function scopeOfStoredSpan(
  queries: RpcQueries,
  fromNs: bigint,
  toNs: bigint,
): Promise<CausesScope | undefined> {
  const any = await queries.rows(
    `SELECT 1 FROM resets
     WHERE ts >= fromUnixTimestamp64Nano({from:Int64}) AND ts <= fromUnixTimestamp64Nano({to:Int64})
     LIMIT 1`,
    { from: String(fromNs), to: String(toNs) },
    1,
  );
  return any.length ? scopeOfSpan(fromNs, toNs) : undefined;
}
