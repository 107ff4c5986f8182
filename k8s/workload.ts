// The workload a pod belongs to, as people name it: the Deployment, not the
// ReplicaSet it rolled out; the CronJob, not this minute's Job. Those two steps
// need the owner's own ownerReferences, which only a get of the owner tells.
import type { KubeClient } from './kube-client.js';
import { KubeApiError } from './kube-errors.js';
import type { KubeResource } from './kube-resource.js';
import { JOBS, REPLICA_SETS } from './kube-resource.js';
import type { KubeObject, OwnerReference, Pod } from './kube-types.js';

export interface Workload {
  /** Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet, … or Pod for a bare pod. */
  kind: string;
  name: string;
  /**
   * True when the owner's owner could not be read (RBAC, gone) and was taken
   * from the naming rule instead: a Deployment's ReplicaSet is <deployment>-<pod-template-hash>.
   */
  inferred?: boolean;
}

// Owners whose own controller is the workload people mean.
const OWNED_BY_MORE: Record<string, KubeResource> = { ReplicaSet: REPLICA_SETS, Job: JOBS };

/** Bounds the owners remembered; a cluster has far fewer live ReplicaSets and Jobs than this. */
export const DEFAULT_OWNER_CACHE_SIZE = 4096;

/** Gets owners (ReplicaSets, Jobs) once and remembers their controller. */
export class OwnerLookup {
  private readonly cache = new Map<string, OwnerReference | null>();
  /** The last failure to read an owner, for a health line; the workload falls back meanwhile. */
  lastError: unknown;

  constructor(
    private readonly client: KubeClient,
    private readonly maxEntries = DEFAULT_OWNER_CACHE_SIZE,
  ) {}

  /** The controller of `kind` namespace/name, null if it has none, undefined if unreadable. */
  async controllerOf(
    kind: string,
    namespace: string,
    name: string,
  ): Promise<OwnerReference | null | undefined> {
    const resource = OWNED_BY_MORE[kind];
    if (!resource) return null;
    const key = `${kind}/${namespace}/${name}`;
    if (this.cache.has(key)) return this.cache.get(key);
    let owner: KubeObject;
    try {
      owner = await this.client.get<KubeObject>(resource, namespace, name);
    } catch (err) {
      if (!(err instanceof KubeApiError)) throw err;
      this.lastError = err;
      return undefined;
    }
    const controller = controllerRef(owner) ?? null;
    if (this.cache.size >= this.maxEntries) {
      // Oldest first: Map keeps insertion order.
      this.cache.delete(this.cache.keys().next().value!);
    }
    this.cache.set(key, controller);
    return controller;
  }
}

export async function workloadOf(pod: Pod, owners: OwnerLookup): Promise<Workload> {
  const owner = controllerRef(pod);
  if (!owner) return { kind: 'Pod', name: pod.metadata.name };
  if (!OWNED_BY_MORE[owner.kind]) return { kind: owner.kind, name: owner.name };
  const upper = await owners.controllerOf(owner.kind, pod.metadata.namespace ?? '', owner.name);
  if (upper) return { kind: upper.kind, name: upper.name };
  if (upper === null) return { kind: owner.kind, name: owner.name };
  return inferred(pod, owner);
}

function inferred(pod: Pod, owner: OwnerReference): Workload {
  const hash = pod.metadata.labels?.['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) {
    return { kind: 'Deployment', name: owner.name.slice(0, -hash.length - 1), inferred: true };
  }
  return { kind: owner.kind, name: owner.name };
}

/** The owner with controller: true; older objects may mark none, then the only owner. */
function controllerRef(object: KubeObject): OwnerReference | undefined {
  const owners = object.metadata.ownerReferences ?? [];
  return owners.find((o) => o.controller) ?? (owners.length === 1 ? owners[0] : undefined);
}
