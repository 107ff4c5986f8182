// What a cgroup v2 path says about the container behind a socket: the runtime
// that made it, the pod's UID, the container id and the pod's QoS class.
// Pure: the names come from the kubelet's and the runtimes' own conventions,
//   systemd driver:  /kubepods.slice/kubepods-burstable.slice/
//                      kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope
//   cgroupfs driver: /kubepods/burstable/pod<uid>/<id>
// and the pod, not the driver, decides what is found.

export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker' | 'unknown';
export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

export interface CgroupAttribution {
  runtime: ContainerRuntime;
  /** The pod's UID with dashes, as the Kubernetes API spells it. */
  podUid?: string;
  /** The container id (64 hex digits for containerd, CRI-O and Docker). */
  containerId?: string;
  qos?: QosClass;
}

// The systemd driver cannot use '-' inside a unit name's own part (it means
// nesting), so the kubelet writes the UID with '_'. Static pods get a UID
// that is an MD5 of their manifest: 32 hex digits and no separators.
const POD =
  /^(?:.*-)?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?:\.slice)?$/;
const CONTAINER_ID = /^[0-9a-f]{64}$/;

// Scope and directory names per runtime. CRI-O's conmon sits in its own
// crio-conmon-<id>.scope: it belongs to the pod but is not the container.
const SYSTEMD_SCOPES: { prefix: string; runtime: ContainerRuntime }[] = [
  { prefix: 'cri-containerd-', runtime: 'containerd' },
  { prefix: 'crio-', runtime: 'cri-o' },
  { prefix: 'docker-', runtime: 'docker' },
];

function qosOf(segment: string): QosClass | undefined {
  if (/(^|-)burstable(\.slice)?$/.test(segment)) return 'burstable';
  if (/(^|-)besteffort(\.slice)?$/.test(segment)) return 'besteffort';
  return undefined;
}

/** A container's directory name → runtime and id, or undefined when it is none. */
function containerOf(
  segment: string,
  parent: string | undefined,
): { runtime: ContainerRuntime; id: string } | undefined {
  const scope = segment.endsWith('.scope') ? segment.slice(0, -'.scope'.length) : segment;
  for (const { prefix, runtime } of SYSTEMD_SCOPES) {
    if (!scope.startsWith(prefix)) continue;
    const id = scope.slice(prefix.length);
    if (CONTAINER_ID.test(id)) return { runtime, id };
  }
  // With the cgroupfs driver containerd names the directory by the bare id,
  // and so does Docker outside Kubernetes, under /docker. (cri-dockerd also
  // writes bare ids under a pod; containerd is by far the likelier there.)
  if (CONTAINER_ID.test(segment)) {
    return { runtime: parent === 'docker' ? 'docker' : 'containerd', id: segment };
  }
  return undefined;
}

/**
 * Parses a cgroup v2 path (relative to the cgroup mount, leading '/' optional).
 * Paths outside any pod give no podUid; a Docker container outside Kubernetes
 * still gives its runtime and id.
 */
export function parseCgroupPath(path: string): CgroupAttribution {
  const segments = path.split('/').filter(Boolean);
  const podAt = segments.findIndex((s) => POD.test(s));
  const result: CgroupAttribution = { runtime: 'unknown' };

  if (podAt >= 0) {
    const match = POD.exec(segments[podAt]!)!;
    result.podUid = normalisePodUid(match[1]!);
    // Guaranteed pods sit directly under kubepods; the others one level
    // lower, and the systemd driver repeats the class in the pod's slice.
    // (A UID is hex, so the last 'pod' in the name is where the UID starts.)
    const podSegment = segments[podAt]!;
    const owner = podSegment.slice(0, podSegment.lastIndexOf('pod')).replace(/-$/, '');
    const qos = qosOf(owner) ?? qosOf(segments[podAt - 1] ?? '');
    result.qos = qos ?? 'guaranteed';
  }

  // The container is the first one below the pod (or anywhere when there is
  // no pod): CRI-O with crun adds a child "container" cgroup under its scope.
  for (let i = podAt + 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const container = containerOf(segment, segments[i - 1]);
    if (container) {
      result.runtime = container.runtime;
      result.containerId = container.id;
      break;
    }
    if (segment.startsWith('crio-conmon-')) {
      result.runtime = 'cri-o';
      break;
    }
  }
  return result;
}

/** The UID as the API spells it: dashes, and a static pod's 32 hex digits kept as they are. */
function normalisePodUid(raw: string): string {
  return raw.replaceAll('_', '-');
}
