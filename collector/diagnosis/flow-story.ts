// The story of one flow's resets in words, from reset_causes rows: who received
// it, who sent it or that nobody did, what the TTLs say, the cause and the fix.
// Pure: rows in, lines out.
import { causeById } from './causes.js';
import { endName, endpointText } from './endpoint.js';

/** The reset_causes columns a story uses, as the query service returns them. */
export interface CauseRow {
  event_id: string;
  ts: string;
  host: string;
  direction: 'sent' | 'received';
  origin: 'local' | 'peer' | 'injected' | 'unknown';
  cause: string;
  detail: string;
  local_addr: string;
  local_port: number;
  remote_addr: string;
  remote_port: number;
  state: string;
  reason: string;
  accepted: boolean;
  drop_reason: string | null;
  hop_distance: number | null;
  rst_ttl: number | null;
  peer_ttl: number | null;
  rst_ip_id: number | null;
  seq_exact: boolean | null;
  idle_ms: number | null;
  survived_idle_ms: number | null;
  match_rule: string | null;
  peer_event_id: string | null;
  peer_host: string | null;
  peer_local_addr: string | null;
  peer_local_port: number | null;
  peer_remote_addr: string | null;
  peer_remote_port: number | null;
  peer_reason: string | null;
  peer_watchers: string[];
  sender_host: string | null;
  sender_pid: number;
  sender_comm: string;
  /** Each end by name when the collector named it ('' when not). */
  local_namespace: string;
  local_name: string;
  remote_namespace: string;
  remote_name: string;
  /** The matched peer's own end by name ('' when none). */
  peer_local_namespace: string;
  peer_local_name: string;
}

/** An end's name with its host's: "shop/checkout-7d9f8-abcde on node-a", or the host alone. */
function who(namespace: string, name: string, host: string): string {
  const named = endName({ namespace, name });
  return named ? `${named} on ${host}` : host;
}

const localWho = (r: CauseRow) => who(r.local_namespace, r.local_name, r.host);

/** The remote end as address:port and, when known, its name: 10.96.0.20:8080 (shop/payments). */
function remoteText(r: CauseRow): string {
  const name = endName({ namespace: r.remote_namespace, name: r.remote_name });
  return `${endpointText(r.remote_addr, r.remote_port)}${name ? ` (${name})` : ''}`;
}

/**
 * TTL of the remote end's ordinary segments as `host` saw them on other flows,
 * for resets whose own socket never saw one (a refused connect).
 */
export type PathTtl = (host: string, remoteAddr: string) => number | undefined;

const MATCH_RULE_WORDS: Record<string, string> = {
  rst: 'the RST sequence numbers match',
  isn: 'the initial sequence numbers match',
  tuple: 'addresses and ports match (no sequence evidence)',
};

/** One story and the rows it tells: a received reset, then its sender's record when present. */
export interface ToldStory<R extends CauseRow = CauseRow> {
  rows: R[];
  lines: string[];
}

/** One story (a few lines) per reset; a received reset and its sender's record make one. */
export function flowStories(
  rows: readonly CauseRow[],
  pathTtl: PathTtl = () => undefined,
): string[][] {
  return tellStories(rows, pathTtl).map((story) => story.lines);
}

/** flowStories() with the rows each story tells. */
export function tellStories<R extends CauseRow>(
  rows: readonly R[],
  pathTtl: PathTtl = () => undefined,
): ToldStory<R>[] {
  const byId = new Map(rows.map((r) => [r.event_id, r]));
  const toldWithPeer = new Set(
    rows.filter((r) => r.direction === 'received' && r.peer_event_id).map((r) => r.peer_event_id),
  );
  return rows
    .filter((r) => r.direction === 'received' || !toldWithPeer.has(r.event_id))
    .map((r) => {
      if (r.direction !== 'received') return { rows: [r], lines: sentStory(r) };
      const sender = r.peer_event_id ? byId.get(r.peer_event_id) : undefined;
      return { rows: sender ? [r, sender] : [r], lines: receivedStory(r, pathTtl) };
    });
}

function receivedStory(r: CauseRow, pathTtl: PathTtl): string[] {
  const me = endpointText(r.local_addr, r.local_port);
  const them = endpointText(r.remote_addr, r.remote_port);
  const lines = [
    `${me} (${localWho(r)}) received a reset from ${remoteText(r)} at ${r.ts} UTC, ${stateWords(r)}.`,
  ];
  const watchers = r.peer_watchers.join(', ');
  if (r.origin === 'peer') {
    const sender = endpointText(r.peer_local_addr!, r.peer_local_port!);
    const peer = who(r.peer_local_namespace, r.peer_local_name, r.peer_host!);
    let line = `${sender} (${peer}) sent it (${r.peer_reason}); ${MATCH_RULE_WORDS[r.match_rule!] ?? r.match_rule}.`;
    const sawUs = endpointText(r.peer_remote_addr!, r.peer_remote_port!);
    if (sawUs !== me) line += ` It saw the other end as ${sawUs}: address translation in between.`;
    lines.push(line);
  } else if (r.origin === 'injected' && r.sender_host) {
    lines.push(`${r.sender_host} sent it, but is not the peer: ${r.detail}.`);
  } else if (r.origin === 'injected') {
    lines.push(`${them} (${watchers}) never sent one, and its agent watched that address then.`);
  } else {
    lines.push(
      `${them} is not watched by any agent: whether its stack sent the reset cannot be told.`,
    );
  }
  const ttl = ttlEvidence(r, pathTtl);
  if (ttl) lines.push(ttl);
  return [...lines, ...causeLines(r)];
}

function sentStory(r: CauseRow): string[] {
  const me = endpointText(r.local_addr, r.local_port);
  const them = endpointText(r.remote_addr, r.remote_port);
  const who = r.sender_comm ? `, process ${r.sender_comm} (pid ${r.sender_pid})` : '';
  return [
    `${me} (${localWho(r)}) sent a reset to ${remoteText(r)} at ${r.ts} UTC (${r.reason}, state ${r.state}${who}).`,
    `No agent recorded it arriving at ${them}: that end is not watched, or the RST was lost on the way.`,
    ...causeLines(r),
  ];
}

function stateWords(r: CauseRow): string {
  const when = r.state === 'SYN_SENT' ? 'while connecting' : `in ${r.state}`;
  if (r.accepted) return when;
  return `${when}, and discarded it (${r.drop_reason ?? 'not acceptable'}): the connection survived`;
}

function ttlEvidence(r: CauseRow, pathTtl: PathTtl): string | undefined {
  if (r.rst_ttl === null || r.hop_distance === null) return undefined;
  const peerTtl = r.peer_ttl ?? pathTtl(r.host, r.remote_addr);
  const source = r.peer_ttl !== null ? 'on this connection' : 'on its other connections';
  const peerName = r.peer_watchers[0] ?? endpointText(r.remote_addr, r.remote_port);
  const hops = `${r.hop_distance} hop${r.hop_distance === 1 ? '' : 's'} from ${r.host}`;
  let conclusion: string;
  if (r.origin === 'injected') {
    conclusion = `injected ${hops}`;
    if (r.cause === 'idle_timeout' && r.idle_ms !== null) {
      conclusion += `, after ${(r.idle_ms / 1000).toFixed(1)} s idle`;
    }
  } else if (peerTtl !== undefined && peerTtl !== r.rst_ttl) {
    conclusion = `not the TTL of the peer's own segments: likely injected ${hops}`;
  } else if (r.origin === 'peer') {
    conclusion = `sent ${hops}, like the peer's own segments`;
  } else {
    conclusion =
      peerTtl === undefined ? `sent ${hops}` : `consistent with the peer's own stack, ${hops}`;
  }
  const seen =
    peerTtl === undefined
      ? `no ordinary segment from ${peerName} was seen`
      : `${peerName}'s segments arrive with ${peerTtl} ${source}`;
  const extra = [
    r.rst_ip_id !== null ? `IP ID ${r.rst_ip_id}` : '',
    r.seq_exact === null ? '' : r.seq_exact ? 'sequence number exact' : 'sequence number not exact',
  ].filter(Boolean);
  return `RST TTL ${r.rst_ttl}, ${seen}: ${conclusion}${extra.length ? ` (${extra.join(', ')})` : ''}.`;
}

function causeLines(r: CauseRow): string[] {
  const cause = causeById(r.cause);
  const lines = [
    `Cause: ${r.cause} — ${cause?.title ?? 'unknown cause'}${r.detail ? `: ${r.detail}` : ''}.`,
  ];
  if (r.survived_idle_ms !== null && r.survived_idle_ms > 0) {
    lines.push(
      `The connection had lived through ${(r.survived_idle_ms / 1000).toFixed(1)} s of silence before.`,
    );
  }
  if (cause) lines.push(`Fix: ${cause.fix}`);
  return lines;
}
