// Both ends of a reset's flow by name, as the collector stores them (the
// local_* and remote_* columns) and WatchResets shows them. The local end is
// the agent's pod when the agent named one (it read the socket's cgroup, which
// beats any address: host-network pods share the node's); otherwise, and
// always for the remote end, whoever held the address at the reset's time.
import type { FlowEnd } from '../../proto/index.js';
import { AddressBook } from './address-book.js';
import type { AddressMap } from './address-map.js';
import { canonicalAddress } from './address-text.js';
import type { Attribution } from './attribution.js';
import { attribute } from './attribution.js';
import type { Inventory } from './inventory.js';

/** What naming needs of an event; a WireResetEvent has all of it. */
export interface FlowEvent {
  /** Nanoseconds since the epoch, decimal. */
  ts_unix_ns: string;
  local_addr: string;
  local_port: number;
  remote_addr: string;
  remote_port: number;
  /** The agent's pod ('' when it named none) and its workload, Kind/name. */
  pod_name: string;
  pod_namespace: string;
  workload: string;
}

export interface FlowEnds {
  local: FlowEnd;
  remote: FlowEnd;
}

/** Names the two ends of one event. */
export type NameFlowEnds = (event: FlowEvent) => FlowEnds;

/** Nobody: what an end is when no source knows its address. */
export function unnamed(): FlowEnd {
  return { kind: '', namespace: '', name: '', workload: '', services: [] };
}

/** Answers kept per address and port; past this many the cache starts again. */
const MAX_CACHED = 50_000;

interface Cached {
  end: FlowEnd;
  /** The answer holds for events from this time on (AddressBook.settledSince). */
  from: number;
  /** The attribution's kind and name, to match the agent's pod. */
  pod?: string;
}

export class FlowEndNamer {
  private readonly book: AddressBook;
  /** The hot path names the same few addresses over and over: remember the answers. */
  private cache = new Map<string, Cached>();
  private cachedRevision = -1;

  /** Either source may be absent: without both, only the agent's pod names the local end. */
  constructor(
    map: Pick<AddressMap, 'book'> | undefined,
    private readonly inventory: Inventory | undefined,
  ) {
    this.book = map?.book ?? new AddressBook();
  }

  /**
   * Bound, so it can be handed on as a NameFlowEnds. The ends it returns may
   * be shared between events: read them, do not change them.
   */
  readonly ends: NameFlowEnds = (event) => {
    // Milliseconds, as the address book keeps time; the digits below them do not matter.
    const time = Number(event.ts_unix_ns.slice(0, -6)) || 0;
    const local = this.at(event.local_addr, event.local_port, time);
    const remote = this.at(event.remote_addr, event.remote_port, time).end;
    if (!event.pod_name) return { local: local.end, remote };
    return {
      local: {
        kind: 'pod',
        namespace: event.pod_namespace,
        name: event.pod_name,
        workload: event.workload,
        // The services whose endpoints are this pod's address and port, if the
        // address is the pod's own (not the node's, for a host-network pod).
        services: local.pod === event.pod_name ? local.end.services : [],
      },
      remote,
    };
  };

  private at(address: string, port: number, time: number): Cached {
    // Nothing to name from (no API yet or at all, no inventory): skip the lookups.
    if (this.book.revision === 0 && !this.inventory) return NOTHING_KNOWN;
    if (this.book.revision !== this.cachedRevision || this.cache.size >= MAX_CACHED) {
      this.cache = new Map();
      this.cachedRevision = this.book.revision;
    }
    const key = `${address}|${port}`;
    const cached = this.cache.get(key);
    if (cached && time >= cached.from) return cached;
    const a = attribute(this.book, this.inventory, address, port, time);
    const answer: Cached = {
      end: end(a),
      from: this.book.settledSince(canonicalAddress(address) ?? address),
      pod: a?.kind === 'pod' ? a.name : undefined,
    };
    // Only an answer that holds from here on: an earlier time may get another.
    if (time >= answer.from) this.cache.set(key, answer);
    return answer;
  }
}

const NOTHING_KNOWN: Cached = { end: unnamed(), from: 0, pod: undefined };

function end(a: Attribution | undefined): FlowEnd {
  if (!a) return unnamed();
  return {
    kind: a.kind,
    namespace: a.namespace ?? '',
    name: a.name,
    workload: a.workload ? `${a.workload.kind}/${a.workload.name}` : '',
    services: a.services,
  };
}
