// Who an address (and port) is: the question the views will ask of every side
// of every reset. A ClusterIP is its service; a pod IP is its pod, with the
// services whose endpoints it serves on that port; then nodes; then the
// inventory for what Kubernetes does not know.
import type { Workload } from '../../k8s/index.js';
import type { AddressBook, SeenMapping } from './address-book.js';
import { canonicalAddress } from './address-text.js';
import type { Inventory, InventoryKind } from './inventory.js';

export interface Attribution {
  kind: 'pod' | 'service' | 'node' | 'inventory';
  name: string;
  namespace?: string;
  workload?: Workload;
  /** namespace/name of each service this address:port is, sorted. */
  services: string[];
  /** For inventory entries. */
  inventoryKind?: InventoryKind;
  labels?: Record<string, string>;
}

/** Attribution of `address` (and `port`, when known) now, or at `time` (ms) if given. */
export function attribute(
  book: AddressBook,
  inventory: Inventory | undefined,
  address: string,
  port?: number,
  time?: number,
): Attribution | undefined {
  const text = canonicalAddress(address);
  if (text === undefined) return undefined;
  const mappings = time === undefined ? book.current(text) : book.at(text, time);
  const onPort = (m: SeenMapping) => port === undefined || m.port === undefined || m.port === port;

  const clusterIp = mappings.filter((m) => m.kind === 'service' && m.port === undefined);
  if (clusterIp[0]) {
    const svc = clusterIp[0];
    return {
      kind: 'service',
      name: svc.name,
      namespace: svc.namespace,
      services: [qualified(svc)],
    };
  }

  const endpoints = mappings.filter((m) => m.kind === 'endpoint' && onPort(m));
  const services = [...new Set(endpoints.map(qualified))].sort();
  const pod = mappings.find((m) => m.kind === 'pod');
  if (pod) {
    return {
      kind: 'pod',
      name: pod.name,
      namespace: pod.namespace,
      workload: pod.workload,
      services,
    };
  }
  // An endpoint whose pod we have not seen (yet), or one outside the cluster.
  const endpoint = endpoints[0];
  if (endpoint) {
    return endpoint.pod
      ? { kind: 'pod', name: endpoint.pod, namespace: endpoint.namespace, services }
      : { kind: 'service', name: endpoint.name, namespace: endpoint.namespace, services };
  }

  const node = mappings.find((m) => m.kind === 'node');
  if (node) return { kind: 'node', name: node.name, services: [] };

  const entry = inventory?.lookup(text);
  if (entry) {
    return {
      kind: 'inventory',
      name: entry.name,
      inventoryKind: entry.kind,
      labels: entry.labels,
      services: [],
    };
  }
  return undefined;
}

function qualified(m: SeenMapping): string {
  return `${m.namespace ?? ''}/${m.name}`;
}
