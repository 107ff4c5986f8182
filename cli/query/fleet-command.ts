// `rstscope fleet`: every agent's health from its heartbeats (what it covers,
// what it counted, stored and lost, how late its news arrives) and the
// collector's own backlog (Fleet).
import { addressForPeople } from '../../collector/diagnosis/endpoint.js';
import { MATCH_TOLERANCE_S } from '../../collector/diagnosis/flow-matching.js';
import type { CollectorStatus, FleetAgent, FleetRequest } from '../../proto/index.js';
import type { CollectorConnection } from '../collector-connection.js';
import { CONNECTION_OPTIONS } from '../collector-connection.js';
import { textTable } from '../text-table.js';
import {
  JSON_OPTION,
  QUERY_VERB_OPTIONS,
  QueryVerbUsageError,
  STANDARD_IO,
  jsonLines,
  noPositionals,
  parseVerbArgs,
  runQueryVerb,
  verbConnection,
} from './query-verb.js';
import type { QueryIo } from './query-verb.js';
import { parseAge, TimeWindowError } from './time-window.js';
import { agoText, durationText } from './timestamps.js';

const DEFAULT_STALE_AFTER = '30s';
const MAX_STALE_AFTER_S = 0xffff_ffff;

export const FLEET_USAGE = `usage: rstscope fleet [--host NAME] [--stale-after AGE] [options]

Lists the agents that sent heartbeats, one row each: live or stale, kernel and
agent version, what they cover (network namespaces, addresses), the resets
their kernel saw against those stored and missing, what they lost (in the
kernel, in the agent) or still buffer, the sent resets their kernel counted
that no agent saw (unseen: while the agent was stopped, or after a killed
agent's last heartbeat; received resets have no kernel counter), how far their
clock is from the NATS server's, how late their heartbeats arrive and when the
last came; then the collector's own state (NATS backlog, rows inserted,
messages dead-lettered). A clock more than half the matching tolerance
(±${MATCH_TOLERANCE_S} s) off gets a warning: past it, resets on that host no
longer pair with their other end.
  --host NAME         only this host's agent
  --stale-after AGE   an agent silent this long is stale (default ${DEFAULT_STALE_AFTER})
${QUERY_VERB_OPTIONS}

examples:
  rstscope fleet
  rstscope fleet --host web-1 --stale-after 1m
  rstscope fleet --json`;

interface FleetConfig {
  connection: CollectorConnection;
  json: boolean;
  request: FleetRequest;
}

function loadFleetConfig(argv: string[], env: NodeJS.ProcessEnv): FleetConfig {
  const { values, positionals } = parseVerbArgs('fleet', argv, {
    ...CONNECTION_OPTIONS,
    ...JSON_OPTION,
    host: { type: 'string' },
    'stale-after': { type: 'string' },
  });
  noPositionals('fleet', positionals);
  if (values.host === '') throw new QueryVerbUsageError('--host is empty: give a host name');
  return {
    connection: verbConnection(values, env),
    json: values.json,
    request: {
      host: values.host ?? '',
      stale_after_s: staleAfterSeconds(values['stale-after'] ?? DEFAULT_STALE_AFTER),
    },
  };
}

export function runFleetCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: QueryIo = STANDARD_IO,
): Promise<number> {
  return runQueryVerb(
    'fleet',
    io,
    () => loadFleetConfig(argv, env),
    async (client, config, track) => {
      const { agents, collector } = await track(client.fleet(config.request));
      if (config.json) {
        io.stdout.write(
          jsonLines([...agents.map((agent) => ({ agent })), ...(collector ? [{ collector }] : [])]),
        );
      } else {
        if (agents.length) io.stdout.write(fleetTable(agents).join('\n') + '\n');
        if (collector) io.stdout.write(`${collectorLine(collector)}\n`);
      }
      for (const line of skewWarnings(agents)) io.stderr.write(`${line}\n`);
      if (agents.length === 0) {
        const host = config.request.host;
        io.stderr.write(
          host
            ? `rstscope fleet: no heartbeat from host ${host} (is its agent running with --nats? the name is its node name)\n`
            : 'no agent has sent a heartbeat (start agents with --nats pointing at this collector’s NATS)\n',
        );
        return host ? 1 : 0;
      }
      return 0;
    },
  );
}

function fleetTable(agents: readonly FleetAgent[], now: Date = new Date()): string[] {
  const n = (name: string) => ({ name, numeric: true });
  return textTable(
    [
      { name: 'host' },
      { name: 'status' },
      { name: 'kernel' },
      { name: 'version' },
      { name: 'netns' },
      { name: 'addresses' },
      n('seen'),
      n('stored'),
      n('missing'),
      n('lost_kernel'),
      n('dropped_agent'),
      n('buffered'),
      n('unseen'),
      n('clock'),
      n('lag'),
      { name: 'heartbeat' },
    ],
    agents.map((a) => ({
      host: a.host,
      status: a.status,
      kernel: a.kernel_release,
      version: a.agent_version,
      netns: a.all_netns ? 'all' : a.netns.map((ns) => ns.name || String(ns.inode)).join(','),
      addresses: a.addresses.map(addressForPeople).join(','),
      seen: a.counters?.seen,
      stored: a.stored,
      missing: a.missing,
      lost_kernel: a.counters?.lost_kernel,
      dropped_agent: a.counters?.dropped_agent,
      buffered: a.counters?.buffered,
      unseen: a.unseen_sent,
      clock: a.clock_offset_ms === undefined ? '' : offsetText(a.clock_offset_ms),
      lag: durationText(a.delivery_lag_ms),
      heartbeat: agoText(a.last_heartbeat_unix_ns, now),
    })),
  );
}

/** Past half the tolerance a skew is worth fixing before it breaks matching. */
const SKEW_WARNING_MS = (MATCH_TOLERANCE_S * 1000) / 2;

function offsetText(ms: number): string {
  return `${ms < 0 ? '-' : '+'}${durationText(Math.abs(ms))}`;
}

/** One line per live agent whose clock is off the NATS server's by more than SKEW_WARNING_MS. */
export function skewWarnings(agents: readonly FleetAgent[]): string[] {
  return agents
    .filter(
      (a) =>
        a.status === 'live' &&
        a.clock_offset_ms !== undefined &&
        Math.abs(a.clock_offset_ms) > SKEW_WARNING_MS,
    )
    .map(
      (a) =>
        `rstscope fleet: ${a.host}'s clock is ${offsetText(a.clock_offset_ms!)} off the NATS server's; ` +
        `resets pair with their other end only within ±${MATCH_TOLERANCE_S} s (sync its clock: chrony or systemd-timesyncd)`,
    );
}

/** collector: chdb /var/lib/…; NATS pending 0, ack pending 0; 1 234 rows inserted; 0 dead-lettered */
export function collectorLine(c: CollectorStatus): string {
  const failing = c.store_failing ? `; STORE FAILING: ${c.store_failing}` : '';
  if (c.unavailable) {
    return `collector: ${c.storage || 'storage unknown'}; its NATS figures are unknown: ${c.unavailable}${failing}`;
  }
  return (
    `collector: ${c.storage || 'storage unknown'}; NATS pending ${c.stream_pending}, ` +
    `ack pending ${c.ack_pending}; ${c.rows_inserted} rows inserted; ${c.dead_lettered} dead-lettered` +
    failing
  );
}

function staleAfterSeconds(text: string): number {
  let ms: number;
  try {
    ms = parseAge(text, '--stale-after');
  } catch (err) {
    if (err instanceof TimeWindowError) throw new QueryVerbUsageError(err.message);
    throw err;
  }
  const seconds = Math.ceil(ms / 1000);
  if (seconds > MAX_STALE_AFTER_S) {
    throw new QueryVerbUsageError(`--stale-after ${text}: at most ${MAX_STALE_AFTER_S} s`);
  }
  return seconds;
}
