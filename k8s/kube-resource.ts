// Which collection a request is about, kept apart from its URL so that a refusal
// can name the RBAC rule that is missing (verb, API group, resource).

export interface KubeResource {
  /** '' for the core group (pods, services, nodes). */
  group: string;
  version: string;
  /** The plural the URL and RBAC rules use: pods, endpointslices. */
  plural: string;
  namespaced: boolean;
}

export const PODS: KubeResource = { group: '', version: 'v1', plural: 'pods', namespaced: true };
export const SERVICES: KubeResource = {
  group: '',
  version: 'v1',
  plural: 'services',
  namespaced: true,
};
export const NODES: KubeResource = { group: '', version: 'v1', plural: 'nodes', namespaced: false };
export const ENDPOINT_SLICES: KubeResource = {
  group: 'discovery.k8s.io',
  version: 'v1',
  plural: 'endpointslices',
  namespaced: true,
};
export const REPLICA_SETS: KubeResource = {
  group: 'apps',
  version: 'v1',
  plural: 'replicasets',
  namespaced: true,
};
export const JOBS: KubeResource = {
  group: 'batch',
  version: 'v1',
  plural: 'jobs',
  namespaced: true,
};

/** /api/v1/namespaces/shop/pods, /apis/apps/v1/replicasets, … with the object's name if given. */
export function resourcePath(resource: KubeResource, namespace?: string, name?: string): string {
  const base = resource.group === '' ? '/api/v1' : `/apis/${resource.group}/${resource.version}`;
  const scope = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const object = name === undefined ? '' : `/${encodeURIComponent(name)}`;
  return `${base}${scope}/${resource.plural}${object}`;
}

/** How RBAC writes the resource: pods, replicasets.apps, endpointslices.discovery.k8s.io. */
export function rbacName(resource: KubeResource): string {
  return resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`;
}
