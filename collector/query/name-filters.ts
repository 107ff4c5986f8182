// The filter's Kubernetes names (namespace, workload, service, pod), checked
// once, and their test on two named ends: live events in WatchResets use it
// directly; stored resets use the same meaning in SQL (reset-filter-sql.ts).
//
// Names follow Kubernetes: namespaces and services are DNS labels, pods and
// workloads DNS subdomains, a workload's kind is CamelCase (Deployment).
import type { FlowEnd } from '../../proto/index.js';
import { ResetFilterError } from './reset-filter-error.js';

/** namespace/name or a name alone (any namespace). */
export interface NamedRef {
  namespace?: string;
  name: string;
}

/** Kind/name or a name alone (any kind). */
export interface WorkloadRef {
  kind?: string;
  name: string;
}

export interface NameFilters {
  /** Either end's namespace. */
  namespace?: string;
  /** Either end's workload. */
  workload?: WorkloadRef;
  /** A service at the server end: its ClusterIP, or one of its endpoints. */
  service?: NamedRef;
  /** A pod at either end. */
  pod?: NamedRef;
}

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const KIND = /^[A-Z][A-Za-z0-9]{0,62}$/;

export function parseNamespace(text: string): string {
  if (!LABEL.test(text)) {
    throw new ResetFilterError(
      `namespace ${text}: expected a Kubernetes namespace (lowercase letters, digits and '-'), e.g. shop`,
    );
  }
  return text;
}

export function parseWorkload(text: string): WorkloadRef {
  const [first = '', name, extra] = text.split('/');
  const ref = name === undefined ? { name: first } : { kind: first, name };
  if (extra !== undefined || !SUBDOMAIN.test(ref.name) || (ref.kind && !KIND.test(ref.kind))) {
    throw new ResetFilterError(
      `workload ${text}: expected Kind/name or a name, e.g. Deployment/checkout or checkout`,
    );
  }
  return ref;
}

export function parseService(text: string): NamedRef {
  return namespacedName('service', text, LABEL, 'shop/payments or payments');
}

export function parsePod(text: string): NamedRef {
  return namespacedName('pod', text, SUBDOMAIN, 'shop/payments-0 or payments-0');
}

function namespacedName(field: string, text: string, form: RegExp, example: string): NamedRef {
  const [first = '', name, extra] = text.split('/');
  const ref = name === undefined ? { name: first } : { namespace: first, name };
  if (
    extra !== undefined ||
    !form.test(ref.name) ||
    (ref.namespace !== undefined && !LABEL.test(ref.namespace))
  ) {
    throw new ResetFilterError(
      `${field} ${text}: expected namespace/name or a name, e.g. ${example}`,
    );
  }
  return ref;
}

export const hasNameFilters = (f: NameFilters) =>
  f.namespace !== undefined ||
  f.workload !== undefined ||
  f.service !== undefined ||
  f.pod !== undefined;

/** Whether two named ends pass the filter's names; `server` is one of the two. */
export function endsMatch(f: NameFilters, ends: readonly FlowEnd[], server: FlowEnd): boolean {
  const { namespace, workload, service, pod } = f;
  return (
    (namespace === undefined || ends.some((e) => e.namespace === namespace)) &&
    (workload === undefined || ends.some((e) => workloadIs(e.workload, workload))) &&
    (service === undefined || server.services.some((s) => serviceIs(s, service))) &&
    (pod === undefined || ends.some((e) => e.kind === 'pod' && refIs(e.namespace, e.name, pod)))
  );
}

function workloadIs(text: string, ref: WorkloadRef): boolean {
  if (ref.kind !== undefined) return text === `${ref.kind}/${ref.name}`;
  return text.endsWith(`/${ref.name}`);
}

function serviceIs(qualified: string, ref: NamedRef): boolean {
  const [namespace = '', name = ''] = qualified.split('/');
  return refIs(namespace, name, ref);
}

function refIs(namespace: string, name: string, ref: NamedRef): boolean {
  return name === ref.name && (ref.namespace === undefined || namespace === ref.namespace);
}
