// Stored diagnoses: reset_causes' rows written down once the resets they
// depend on have arrived, so a day of resets is counted by cause without
// matching every pair again at query time (a self-join over the whole table:
// about 5 s per million resets on two cores).
//
// The table is a cache of the view, not data: its name carries a digest of the
// diagnosis SQL, so a version that diagnoses differently starts an empty table
// of its own (and drops the old one) and diagnoses the stored resets again.
// Rows up to the progress mark `until` are diagnosed; queries read the table
// below it and the live view, scoped to the rest, above it (causes-source in
// the query service), so an answer is the view's whichever side a reset is on.
import { createHash } from 'node:crypto';
import { RESET_CAUSES_VIEW } from './cause-view.js';

/** A digest of the diagnosis as this version computes it. */
const VERSION = createHash('sha256').update(RESET_CAUSES_VIEW).digest('hex').slice(0, 12);

export const DIAGNOSES_PREFIX = 'reset_diagnoses_';
/** This version's stored diagnoses. */
export const DIAGNOSES_TABLE = `${DIAGNOSES_PREFIX}${VERSION}`;
/** How far the stored diagnoses reach: one row per pass, the latest mark counts. */
export const DIAGNOSES_PROGRESS_TABLE = `${DIAGNOSES_TABLE}_progress`;

/**
 * The stored diagnoses, shaped by the view itself (EMPTY AS SELECT). Daily
 * partitions like `resets`, so retention drops whole parts; within a day, time
 * first: a day or an hour is one range. Bloom filters on the four address
 * columns find one flow (either end, as either side saw it).
 */
export const DIAGNOSES_DDL = [
  `CREATE TABLE IF NOT EXISTS ${DIAGNOSES_TABLE}
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (toStartOfHour(ts), host, ts)
EMPTY AS SELECT * FROM reset_causes`,
  ...['local_addr', 'remote_addr', 'peer_local_addr', 'peer_remote_addr'].map(
    (column) => `ALTER TABLE ${DIAGNOSES_TABLE}
ADD INDEX IF NOT EXISTS ${column}_bf ${column} TYPE bloom_filter(0.01) GRANULARITY 1`,
  ),
  `CREATE TABLE IF NOT EXISTS ${DIAGNOSES_PROGRESS_TABLE}
(
    until DateTime64(9, 'UTC') COMMENT 'Every reset before it is diagnosed in ${DIAGNOSES_TABLE}',
    pass_started DateTime64(9, 'UTC') COMMENT 'When the pass that wrote this mark began reading'
)
ENGINE = MergeTree
ORDER BY until
COMMENT 'How far the stored diagnoses reach'`,
];

/** The progress mark as a query reads it: 0 (nothing stored) when no pass ran. */
export const DIAGNOSED_UNTIL_SQL = `SELECT toString(toUnixTimestamp64Nano(max(until))) AS until_ns
FROM ${DIAGNOSES_PROGRESS_TABLE}`;
