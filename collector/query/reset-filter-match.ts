// A ResetFilter as a test on live events, the way WatchResets sees them: one
// agent's record, straight off NATS, before anything matched the other end. So
// origin and cause cannot be asked for, and address and port match this end's
// view of the flow (local or remote), not the peer's. Names match the two ends
// as the collector names them on arrival (live-ends.ts).
import { localIsServer } from '../diagnosis/server-end.js';
import type { WireResetEvent } from '../../proto/index.js';
import type { FlowEnds } from './live-ends.js';
import { endsMatch, hasNameFilters } from './name-filters.js';
import { inRange, ResetFilterError } from './reset-filter.js';
import type { ParsedResetFilter } from './reset-filter.js';

export type LiveResetMatch = (host: string, event: WireResetEvent, ends: FlowEnds) => boolean;

/** Namespaces as host and inode: what a netns name resolved to. */
export type NetnsSet = ReadonlySet<string>;

export function netnsKey(host: string, inode: number): string {
  return `${host}/${inode}`;
}

export const UNDECIDED_FIELDS_PROBLEM =
  'origin/cause are decided after both ends are matched; use ListResets or TopCauses';

/** Throws ResetFilterError when the filter asks what only the diagnosis knows. */
export function assertLiveFilter(filter: ParsedResetFilter): void {
  if (filter.origin !== undefined || filter.cause !== undefined) {
    throw new ResetFilterError(UNDECIDED_FIELDS_PROBLEM);
  }
}

/**
 * The filter as a match on live events. A netns given by name must come resolved
 * (`netns`: the hosts' namespaces of that name). Throws ResetFilterError for
 * fields a live event cannot answer.
 */
export function liveResetMatch(filter: ParsedResetFilter, netns?: NetnsSet): LiveResetMatch {
  assertLiveFilter(filter);
  const { host, address, port, direction } = filter;
  const inNetns = netnsTest(filter, netns);
  const names = hasNameFilters(filter);
  return (eventHost, e, ends) =>
    (host === undefined || eventHost === host) &&
    (direction === undefined || e.direction === direction) &&
    (port === undefined || e.local_port === port || e.remote_port === port) &&
    (inNetns === undefined || inNetns(eventHost, e.netns)) &&
    (address === undefined || inRange(address, e.local_addr) || inRange(address, e.remote_addr)) &&
    (!names ||
      endsMatch(
        filter,
        [ends.local, ends.remote],
        localIsServer(e.local_port, e.remote_port) ? ends.local : ends.remote,
      ));
}

function netnsTest(
  filter: ParsedResetFilter,
  resolved: NetnsSet | undefined,
): ((host: string, inode: number) => boolean) | undefined {
  if (!filter.netns) return undefined;
  if ('inode' in filter.netns) {
    const { inode } = filter.netns;
    return (_host, eventInode) => eventInode === inode;
  }
  if (!resolved) throw new Error(`netns ${filter.netns.name} must be resolved before matching`);
  return (host, eventInode) => resolved.has(netnsKey(host, eventInode));
}
