export { KubeClient, DEFAULT_PAGE_SIZE, DEFAULT_WATCH_TIMEOUT_S } from './kube-client.js';
export type { Listing, ListOptions, Selectors, WatchOptions } from './kube-client.js';
export {
  DEFAULT_TOKEN_REFRESH_MS,
  SERVICE_ACCOUNT_DIR,
  fixedToken,
  inClusterConfig,
  tokenFile,
} from './kube-config.js';
export type { InClusterOptions, KubeConfig, TokenSource } from './kube-config.js';
export { KUBE_MODES, KUBE_OPTIONS, KUBE_USAGE, kubeConfigFromFlags } from './kube-flags.js';
export type { KubeFlags, KubeMode } from './kube-flags.js';
export {
  KubeApiError,
  KubeConfigError,
  KubeForbiddenError,
  KubeGoneError,
  KubeUnauthorizedError,
  KubeUnreachableError,
  KubeWatchStalledError,
} from './kube-errors.js';
export {
  ENDPOINT_SLICES,
  JOBS,
  NODES,
  PODS,
  REPLICA_SETS,
  SERVICES,
  rbacName,
  resourcePath,
} from './kube-resource.js';
export type { KubeResource } from './kube-resource.js';
export type {
  EndpointSlice,
  KubeList,
  KubeNode,
  KubeObject,
  KubeStatus,
  ObjectMeta,
  OwnerReference,
  Pod,
  Service,
  ServicePort,
  WatchEvent,
} from './kube-types.js';
export { Reflector, objectKey, reflect } from './reflector.js';
export type { ReflectOptions, ReflectorHandlers, ReflectorStats } from './reflector.js';
export { OwnerLookup, workloadOf } from './workload.js';
export type { Workload } from './workload.js';
