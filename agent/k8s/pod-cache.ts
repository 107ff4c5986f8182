// The pods on this node, by UID: what the agent needs to name the pod whose
// cgroup sent or received a reset. Only this node's pods (a field selector on
// spec.nodeName), so the agent's memory and the API server's work stay per node.
import type {
  KubeClient,
  OwnerLookup,
  Pod,
  ReflectOptions,
  Reflector,
  Workload,
} from '../../k8s/index.js';
import { PODS, reflect, workloadOf } from '../../k8s/index.js';

export interface PodInfo {
  uid: string;
  name: string;
  namespace: string;
  node: string;
  labels: Record<string, string>;
  workload: Workload;
  /** Runtime ids without their scheme (containerd://, cri-o://), as cgroup paths carry them. */
  containerIds: string[];
  /** Container name (spec.containers[].name) by runtime id, for every id in containerIds. */
  containerNames: Record<string, string>;
  podIps: string[];
  hostNetwork: boolean;
  /** Succeeded or Failed: its network namespace is gone, its IP free for a new pod. */
  finished: boolean;
  qosClass?: string;
}

export interface PodCacheOptions extends Pick<
  ReflectOptions,
  'backoff' | 'watchTimeoutSeconds' | 'pageSize'
> {
  nodeName: string;
  owners: OwnerLookup;
  error?: (err: unknown) => void;
}

export class PodCache {
  private readonly byUidMap = new Map<string, PodInfo>();
  private readonly byContainer = new Map<string, PodInfo>();
  // Only pods with their own network namespace: a hostNetwork pod's IP is the node's.
  private readonly byIp = new Map<string, PodInfo>();
  private readonly reflector: Reflector<Pod>;

  constructor(
    client: KubeClient,
    private readonly options: PodCacheOptions,
  ) {
    this.reflector = reflect<Pod>(
      client,
      PODS,
      {
        upsert: async (pod) => this.put(await podInfo(pod, options.owners)),
        remove: (pod) => this.drop(pod.metadata.uid),
        error: options.error,
      },
      {
        backoff: options.backoff,
        watchTimeoutSeconds: options.watchTimeoutSeconds,
        pageSize: options.pageSize,
        fieldSelector: `spec.nodeName=${options.nodeName}`,
      },
    );
  }

  /** Resolves once the node's pods have been listed. */
  get synced(): Promise<void> {
    return this.reflector.synced;
  }

  get stats() {
    return this.reflector.stats;
  }

  byUid(uid: string): PodInfo | undefined {
    return this.byUidMap.get(uid);
  }

  byContainerId(id: string): PodInfo | undefined {
    return this.byContainer.get(id);
  }

  /** The non-hostNetwork pod of this node that has `ip` (as the agent formats addresses). */
  byPodIp(ip: string): PodInfo | undefined {
    return this.byIp.get(ip);
  }

  pods(): PodInfo[] {
    return [...this.byUidMap.values()];
  }

  /** The IPs of this node's live pods that have a network namespace of their own. */
  podNetworkIps(): string[] {
    return [...this.byIp].filter(([, info]) => !info.finished).map(([ip]) => ip);
  }

  stop(): Promise<void> {
    return this.reflector.stop();
  }

  private put(info: PodInfo): void {
    this.drop(info.uid);
    this.byUidMap.set(info.uid, info);
    for (const id of info.containerIds) this.byContainer.set(id, info);
    if (!info.hostNetwork) for (const ip of info.podIps) this.byIp.set(ip, info);
  }

  private drop(uid: string): void {
    const old = this.byUidMap.get(uid);
    if (!old) return;
    this.byUidMap.delete(uid);
    for (const id of old.containerIds) this.byContainer.delete(id);
    // A finished pod's IP may already be a newer pod's: only forget it while it is this one's.
    for (const ip of old.podIps) if (this.byIp.get(ip) === old) this.byIp.delete(ip);
  }
}

async function podInfo(pod: Pod, owners: OwnerLookup): Promise<PodInfo> {
  const status = pod.status ?? {};
  const containers = [
    ...(status.initContainerStatuses ?? []),
    ...(status.containerStatuses ?? []),
    ...(status.ephemeralContainerStatuses ?? []),
  ];
  const containerNames: Record<string, string> = {};
  const containerIds: string[] = [];
  for (const c of containers) {
    if (!c.containerID) continue;
    const id = stripScheme(c.containerID);
    containerIds.push(id);
    containerNames[id] = c.name;
  }
  const info: PodInfo = {
    uid: pod.metadata.uid,
    name: pod.metadata.name,
    namespace: pod.metadata.namespace ?? '',
    node: pod.spec?.nodeName ?? '',
    labels: pod.metadata.labels ?? {},
    workload: await workloadOf(pod, owners),
    containerIds,
    containerNames,
    podIps: (status.podIPs?.map((p) => p.ip) ?? (status.podIP ? [status.podIP] : [])).map(
      canonicalIp,
    ),
    hostNetwork: pod.spec?.hostNetwork === true,
    finished: status.phase === 'Succeeded' || status.phase === 'Failed',
  };
  if (status.qosClass) info.qosClass = status.qosClass;
  return info;
}

/** containerd://3f…, cri-o://9a…, docker://… → the bare id. */
function stripScheme(containerId: string): string {
  const at = containerId.indexOf('://');
  return at < 0 ? containerId : containerId.slice(at + 3);
}

/**
 * The API writes IPv6 as Go's net.IP prints it, which is RFC 5952 like the
 * agent's own formatAddress; parsing through WHATWG URL guards against any
 * other spelling so that an address lookup compares like with like.
 */
function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}
