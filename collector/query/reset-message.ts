// Stored resets as API messages: reset_causes rows (the diagnosis) with the
// `resets` rows they came from (the event as the agent recorded it).
import { causeById } from '../diagnosis/causes.js';
import { addressForPeople } from '../diagnosis/endpoint.js';
import { EVENT_ID } from '../diagnosis/evidence-view.js';
import type { CauseRow } from '../diagnosis/flow-story.js';
import { RESETS } from '../storage/tables.js';
import type { Diagnosis, FlowEnd, Reset, WireResetEvent } from '../../proto/index.js';
import type { RpcQueries } from './rpc-queries.js';
import { stringArray } from './rpc-queries.js';

/** One end's name columns (local_* or remote_*) in reset_causes. */
type EndColumns<E extends string> = {
  [F in 'kind' | 'namespace' | 'name' | 'workload' as `${E}_${F}`]: string;
} & { [F in `${E}_services`]: string[] };

/** A reset_causes row as CAUSE_COLUMNS selects it. */
export interface StoredCause extends CauseRow, EndColumns<'local'>, EndColumns<'remote'> {
  ts_ns: string;
  boot_id: string;
  cause_title: string;
  peer_hop_distance: number | null;
  peer_state: string | null;
}

const endColumns = (end: string) =>
  ['kind', 'namespace', 'name', 'workload', 'services'].map((f) => `${end}_${f}`).join(', ');

/** What the RPCs read of reset_causes: what stories and Diagnosis messages need. */
export const CAUSE_COLUMNS = `event_id, toString(toUnixTimestamp64Nano(ts)) AS ts_ns,
  ts, host, splitByChar('/', event_id)[2] AS boot_id, direction, origin,
  cause, cause_title, detail, local_addr, local_port, remote_addr, remote_port, state, reason,
  accepted, drop_reason, hop_distance, peer_hop_distance, rst_ttl, peer_ttl, rst_ip_id,
  seq_exact, idle_ms, survived_idle_ms, match_rule, peer_event_id, peer_host,
  peer_local_addr, peer_local_port, peer_remote_addr, peer_remote_port, peer_state,
  peer_reason, peer_watchers, sender_host, sender_pid, sender_comm,
  peer_local_namespace, peer_local_name, ${endColumns('local')}, ${endColumns('remote')}`;

// The event's fields are the table's columns but for its identity and bookkeeping.
const NOT_EVENT = new Set(['ts', 'host', 'boot_id', 'batch_id', 'batch_index', 'inserted_at']);
const EVENT_COLUMNS = RESETS.columns.map((c) => c.name).filter((n) => !NOT_EVENT.has(n));
const ADDRESS_FIELDS = new Set(['local_addr', 'remote_addr']);

type RawEvent = Record<string, unknown> & { event_id: string; ts_ns: string };

/**
 * The `resets` rows of these causes, by event id. Bounded by the rows' hosts,
 * hours and time span: the table's sort key starts with host and hour, so the
 * lookup reads only their host-hours, even for a flow seen all day.
 */
async function storedEvents(
  queries: RpcQueries,
  causes: readonly StoredCause[],
): Promise<Map<string, WireResetEvent>> {
  if (causes.length === 0) return new Map();
  const times = causes.map((c) => BigInt(c.ts_ns));
  const min = times.reduce((a, b) => (a < b ? a : b));
  const max = times.reduce((a, b) => (a > b ? a : b));
  const rows = await queries.rows<RawEvent>(
    `SELECT event_id, toString(toUnixTimestamp64Nano(ts)) AS ts_ns, ${EVENT_COLUMNS.join(', ')}
     FROM (SELECT *, ${EVENT_ID} AS event_id FROM resets
           WHERE host IN {hosts:Array(String)}
             AND toStartOfHour(ts) IN {hours:Array(DateTime('UTC'))}
             AND ts >= fromUnixTimestamp64Nano({min_ns:Int64})
             AND ts <= fromUnixTimestamp64Nano({max_ns:Int64}))
     WHERE event_id IN {ids:Array(String)}
     LIMIT 1 BY event_id`,
    {
      hosts: stringArray(causes.map((c) => c.host)),
      ids: stringArray(causes.map((c) => c.event_id)),
      hours: stringArray(times.map(hourOf)),
      min_ns: String(min),
      max_ns: String(max),
    },
    causes.length,
  );
  return new Map(rows.map((row) => [row.event_id, wireEvent(row)]));
}

/** The start of the UTC hour of a time in ns, as DateTime text. */
function hourOf(ns: bigint): string {
  const hour = new Date(Number(ns / 3_600_000_000_000n) * 3_600_000);
  return hour.toISOString().slice(0, 19).replace('T', ' ');
}

/** A stored row as the agent's ResetEvent: absent optional fields where the row has NULL. */
function wireEvent(row: RawEvent): WireResetEvent {
  const event: Record<string, unknown> = { ts_unix_ns: row.ts_ns };
  for (const name of EVENT_COLUMNS) {
    const value = row[name];
    if (value === null || value === undefined) continue;
    event[name] = ADDRESS_FIELDS.has(name) ? addressForPeople(String(value)) : value;
  }
  return event as unknown as WireResetEvent;
}

/** One end as stored: named by the collector when it stored the reset. */
function storedEnd(c: StoredCause, end: 'local' | 'remote'): FlowEnd {
  return {
    kind: c[`${end}_kind`],
    namespace: c[`${end}_namespace`],
    name: c[`${end}_name`],
    workload: c[`${end}_workload`],
    services: c[`${end}_services`],
  };
}

function resetMessage(cause: StoredCause, event: WireResetEvent | undefined): Reset {
  return {
    event_id: cause.event_id,
    host: cause.host,
    boot_id: cause.boot_id,
    // A row that left `resets` between the two queries (TTL) still has its diagnosis.
    event: event ?? fallbackEvent(cause),
    diagnosis: diagnosisMessage(cause),
    local_end: storedEnd(cause, 'local'),
    remote_end: storedEnd(cause, 'remote'),
  };
}

function diagnosisMessage(c: StoredCause): Diagnosis {
  const diagnosis: Diagnosis = {
    origin: c.origin,
    cause: c.cause,
    cause_title: c.cause_title,
    detail: c.detail,
    fix: causeById(c.cause)?.fix ?? '',
    match_rule: c.match_rule ?? '',
    peer_event_id: c.peer_event_id ?? '',
    peer_host: c.peer_host ?? '',
    peer_local_addr: c.peer_local_addr ? addressForPeople(c.peer_local_addr) : '',
    peer_local_port: c.peer_local_port ?? 0,
    peer_remote_addr: c.peer_remote_addr ? addressForPeople(c.peer_remote_addr) : '',
    peer_remote_port: c.peer_remote_port ?? 0,
    peer_state: c.peer_state ?? '',
    peer_reason: c.peer_reason ?? '',
    peer_watchers: c.peer_watchers,
    sender_host: c.sender_host ?? '',
    sender_pid: c.sender_pid,
    sender_comm: c.sender_comm,
  };
  if (c.hop_distance !== null) diagnosis.hop_distance = c.hop_distance;
  if (c.peer_hop_distance !== null) diagnosis.peer_hop_distance = c.peer_hop_distance;
  if (c.seq_exact !== null) diagnosis.seq_exact = c.seq_exact;
  if (c.idle_ms !== null) diagnosis.idle_ms = c.idle_ms;
  return diagnosis;
}

/** The event's fields that reset_causes itself carries. */
function fallbackEvent(c: StoredCause): WireResetEvent {
  return {
    ts_unix_ns: c.ts_ns,
    direction: c.direction,
    reason: c.reason,
    accepted: c.accepted,
    state: c.state,
    local_addr: addressForPeople(c.local_addr),
    local_port: c.local_port,
    remote_addr: addressForPeople(c.remote_addr),
    remote_port: c.remote_port,
  } as WireResetEvent;
}

/** Rows of reset_causes as Reset messages, each with its stored event. */
export async function resetMessages(
  queries: RpcQueries,
  causes: readonly StoredCause[],
): Promise<Reset[]> {
  const events = await storedEvents(queries, causes);
  return causes.map((c) => resetMessage(c, events.get(c.event_id)));
}
