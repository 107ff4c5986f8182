// Both ends of a reset's flow by name, as the collector stores them (the
// local_* and remote_* columns) and WatchResets shows them. The local end is
// the agent's pod when the agent named one (it read the socket's cgroup, which
// beats any address: host-network pods share the node's); otherwise, and
// always for the remote end, whoever held the address at the reset's time.
import type { FlowEnd } from '../../proto/index.js';
import { AddressBook } from './address-book.js';
import type { AddressMap } from './address-map.js';
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

export class FlowEndNamer {
  private readonly book: AddressBook;

  /** Either source may be absent: without both, every end is unnamed. */
  constructor(
    map: Pick<AddressMap, 'book'> | undefined,
    private readonly inventory: Inventory | undefined,
  ) {
    this.book = map?.book ?? new AddressBook();
  }

  /** Bound, so it can be handed on as a NameFlowEnds. */
  readonly ends: NameFlowEnds = (event) => {
    // Milliseconds, as the address book keeps time; the digits below them do not matter.
    const time = Number(event.ts_unix_ns.slice(0, -6)) || 0;
    const local = this.at(event.local_addr, event.local_port, time);
    const remote = end(this.at(event.remote_addr, event.remote_port, time));
    if (!event.pod_name) return { local: end(local), remote };
    return {
      local: {
        kind: 'pod',
        namespace: event.pod_namespace,
        name: event.pod_name,
        workload: event.workload,
        // The services whose endpoints are this pod's address and port, if the
        // address is the pod's own (not the node's, for a host-network pod).
        services: local?.kind === 'pod' && local.name === event.pod_name ? local.services : [],
      },
      remote,
    };
  };

  private at(address: string, port: number, time: number): Attribution | undefined {
    return attribute(this.book, this.inventory, address, port, time);
  }
}

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
