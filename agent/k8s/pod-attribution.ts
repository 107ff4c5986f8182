// Names the pod and container of a reset from what the agent already knows:
// cgroup_id → cgroup path (CgroupIndex) → pod UID and container id
// (parseCgroupPath) → this node's pods (PodCache). Synchronous and cheap when
// the cgroup is known, because it runs for every event on the publish path;
// what it cannot know yet it reports, and the caller decides whether to wait.
import type { WireResetEvent } from '../../proto/index.js';
import type { CgroupIndex } from './cgroup-index.js';
import { parseCgroupPath } from './cgroup-path.js';
import type { CgroupAttribution } from './cgroup-path.js';
import type { PodInfo } from './pod-cache.js';

/** The lookups pod attribution needs from PodCache. */
export interface PodLookup {
  byUid(uid: string): PodInfo | undefined;
  byContainerId(id: string): PodInfo | undefined;
  byPodIp(ip: string): PodInfo | undefined;
}

/** Parsed paths remembered; cleared when full, since parsing again is only a few regexes. */
const MAX_PARSED = 16_384;

const NO_POD: CgroupAttribution = Object.freeze({ runtime: 'unknown' });

export class PodAttribution {
  // cgroup id → what its path says: each path is parsed once, not per event.
  private readonly parsed = new Map<string, CgroupAttribution>();

  /** `cgroups` undefined: no cgroup mount to read, so pods are named by address only. */
  constructor(
    private readonly pods: PodLookup,
    private readonly cgroups: CgroupIndex | undefined,
  ) {}

  /**
   * Fills the pod fields of every event it can name, in place. Returns the
   * cgroup ids whose paths are not known yet (their events were named by
   * address, if at all), or undefined when there are none.
   */
  name(events: readonly WireResetEvent[]): Set<string> | undefined {
    let unknown: Set<string> | undefined;
    for (const event of events) {
      const cgroup = this.cgroupOf(event.cgroup_id);
      if (cgroup === undefined) (unknown ??= new Set()).add(event.cgroup_id);
      this.nameOne(event, cgroup);
    }
    return unknown;
  }

  /** What the cgroup says, NO_POD when it says nothing, undefined when its path is not known yet. */
  private cgroupOf(id: string): CgroupAttribution | undefined {
    // Resets sent in softirq with no socket carry no cgroup (0).
    if (id === '0' || !this.cgroups) return NO_POD;
    const known = this.parsed.get(id);
    if (known) return known;
    const path = this.cgroups.lookup(id);
    let cgroup: CgroupAttribution;
    if (path !== undefined) cgroup = parseCgroupPath(path);
    else if (this.cgroups.isGone(id)) cgroup = NO_POD;
    else return undefined;
    if (this.parsed.size >= MAX_PARSED) this.parsed.clear();
    this.parsed.set(id, cgroup);
    return cgroup;
  }

  private nameOne(event: WireResetEvent, cgroup: CgroupAttribution | undefined): void {
    const podUid = cgroup?.podUid;
    if (podUid !== undefined) {
      const containerId = cgroup!.containerId ?? '';
      const pod =
        (containerId ? this.pods.byContainerId(containerId) : undefined) ?? this.pods.byUid(podUid);
      if (pod) {
        fill(event, pod, containerId, 'cgroup');
      } else {
        // A pod that started seconds ago, or an API that does not answer: the
        // path alone still names it for whoever joins later on the UID.
        event.pod_uid = podUid;
        event.pod_name = '';
        event.pod_namespace = '';
        event.container_name = '';
        event.container_id = containerId;
        event.workload = '';
        event.pod_labels = {};
        event.pod_source = 'cgroup';
      }
      return;
    }
    // No pod from the cgroup: a reset the kernel sent for a pod's address with
    // no socket to charge it to (a closed port) still belongs to that pod.
    // hostNetwork pods are not in this index: their address is the node's.
    const pod = this.pods.byPodIp(event.local_addr);
    if (pod) fill(event, pod, '', 'address');
  }
}

function fill(
  event: WireResetEvent,
  pod: PodInfo,
  containerId: string,
  source: 'cgroup' | 'address',
): void {
  event.pod_uid = pod.uid;
  event.pod_name = pod.name;
  event.pod_namespace = pod.namespace;
  event.container_name = containerId ? (pod.containerNames[containerId] ?? '') : '';
  event.container_id = containerId;
  event.workload = `${pod.workload.kind}/${pod.workload.name}`;
  // Shared, not copied: the encoder only reads it, and the cache replaces a
  // pod's PodInfo (never edits it) when the pod changes.
  event.pod_labels = pod.labels;
  event.pod_source = source;
}
