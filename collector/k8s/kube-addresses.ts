// What each kind of object says about addresses. Pure functions: the address
// map feeds them from reflectors, tests feed them recorded objects.
import type { EndpointSlice, KubeNode, Pod, Service, Workload } from '../../k8s/index.js';
import type { AddressMapping } from './address-book.js';
import { canonicalAddress } from './address-text.js';

// Set on an EndpointSlice by the controller that mirrors a Service.
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

// Node addresses that are IPs (Hostname and InternalDNS are not).
const NODE_IP_TYPES = new Set(['InternalIP', 'ExternalIP']);

export function podAddresses(pod: Pod, workload: Workload): AddressMapping[] {
  // A host-network pod has the node's address: the node mapping names it.
  if (pod.spec?.hostNetwork) return [];
  // A finished pod's IP goes back to the pool and may already be another pod's.
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return [];
  const ips = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  return addresses(ips).map((address) => ({
    kind: 'pod',
    address,
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    workload,
  }));
}

export function serviceAddresses(service: Service): AddressMapping[] {
  const spec = service.spec ?? {};
  // Headless services have ClusterIP None: their names live on the endpoints only.
  const ips = (spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])).filter(
    (ip) => ip !== 'None',
  );
  const base = {
    kind: 'service' as const,
    namespace: service.metadata.namespace,
    name: service.metadata.name,
  };
  return addresses(ips).flatMap((address) => [
    { ...base, address },
    ...(spec.ports ?? []).map((p) => ({
      ...base,
      address,
      port: p.port,
      protocol: p.protocol ?? 'TCP',
    })),
  ]);
}

export function endpointSliceAddresses(slice: EndpointSlice): AddressMapping[] {
  const service = slice.metadata.labels?.[SERVICE_NAME_LABEL];
  if (!service) return [];
  const ports = (slice.ports ?? []).filter((p) => p.port !== undefined);
  return (slice.endpoints ?? []).flatMap((endpoint) => {
    const base = {
      kind: 'endpoint' as const,
      namespace: slice.metadata.namespace,
      name: service,
      ...(endpoint.targetRef?.kind === 'Pod' && endpoint.targetRef.name
        ? { pod: endpoint.targetRef.name }
        : {}),
    };
    return addresses(endpoint.addresses).flatMap((address) =>
      // No ports listed means every port (a headless service without ports).
      ports.length === 0
        ? [{ ...base, address }]
        : ports.map((p) => ({ ...base, address, port: p.port, protocol: p.protocol ?? 'TCP' })),
    );
  });
}

export function nodeAddresses(node: KubeNode): AddressMapping[] {
  const ips = (node.status?.addresses ?? [])
    .filter((a) => NODE_IP_TYPES.has(a.type))
    .map((a) => a.address);
  return addresses(ips).map((address) => ({ kind: 'node', address, name: node.metadata.name }));
}

function addresses(texts: string[]): string[] {
  return [...new Set(texts.flatMap((t) => canonicalAddress(t) ?? []))];
}
