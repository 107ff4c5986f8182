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
  podIps: string[];
  hostNetwork: boolean;
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

  pods(): PodInfo[] {
    return [...this.byUidMap.values()];
  }

  stop(): Promise<void> {
    return this.reflector.stop();
  }

  private put(info: PodInfo): void {
    this.drop(info.uid);
    this.byUidMap.set(info.uid, info);
    for (const id of info.containerIds) this.byContainer.set(id, info);
  }

  private drop(uid: string): void {
    const old = this.byUidMap.get(uid);
    if (!old) return;
    this.byUidMap.delete(uid);
    for (const id of old.containerIds) this.byContainer.delete(id);
  }
}

async function podInfo(pod: Pod, owners: OwnerLookup): Promise<PodInfo> {
  const status = pod.status ?? {};
  const containers = [
    ...(status.initContainerStatuses ?? []),
    ...(status.containerStatuses ?? []),
    ...(status.ephemeralContainerStatuses ?? []),
  ];
  const info: PodInfo = {
    uid: pod.metadata.uid,
    name: pod.metadata.name,
    namespace: pod.metadata.namespace ?? '',
    node: pod.spec?.nodeName ?? '',
    labels: pod.metadata.labels ?? {},
    workload: await workloadOf(pod, owners),
    containerIds: containers.flatMap((c) => (c.containerID ? [stripScheme(c.containerID)] : [])),
    podIps: status.podIPs?.map((p) => p.ip) ?? (status.podIP ? [status.podIP] : []),
    hostNetwork: pod.spec?.hostNetwork === true,
  };
  if (status.qosClass) info.qosClass = status.qosClass;
  return info;
}

/** containerd://3f…, cri-o://9a…, docker://… → the bare id. */
function stripScheme(containerId: string): string {
  const at = containerId.indexOf('://');
  return at < 0 ? containerId : containerId.slice(at + 3);
}
