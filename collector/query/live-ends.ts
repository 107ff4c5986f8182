// Who the two ends of a live event are (WatchResets): what the collector's
// naming says (QueryServiceDeps.flowEnds, the same naming it stores), or, on a
// collector that names nothing, what the agent said of its own pod.
import type { FlowEnd, WireResetEvent } from '../../proto/index.js';
import { unnamed } from '../k8s/flow-ends.js';

export interface FlowEnds {
  local: FlowEnd;
  remote: FlowEnd;
}

/** Names both ends of a live event, as the collector does when it stores one. */
export type FlowEndsOf = (event: WireResetEvent) => FlowEnds;

/** The agent's pod as the local end; the remote end unnamed. */
export function agentEnds(event: WireResetEvent): FlowEnds {
  const local: FlowEnd = event.pod_name
    ? {
        kind: 'pod',
        namespace: event.pod_namespace,
        name: event.pod_name,
        workload: event.workload,
        services: [],
      }
    : unnamed();
  return { local, remote: unnamed() };
}
