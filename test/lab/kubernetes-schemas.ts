// Rendered manifests checked against the Kubernetes OpenAPI schemas (kubernetes-models
// 5.1: Kubernetes 1.36; the Prometheus Operator's CRDs for ServiceMonitor). Those
// validators ignore unknown fields, so an allowlist of kinds and a probe for unknown
// fields in pod specs, containers and security contexts close the gap.
import { validate as validateContainer } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Container';
import { validate as validatePodSecurityContext } from 'kubernetes-models/_schemas/IoK8sApiCoreV1PodSecurityContext';
import { validate as validatePodSpec } from 'kubernetes-models/_schemas/IoK8sApiCoreV1PodSpec';
import { validate as validateSecurityContext } from 'kubernetes-models/_schemas/IoK8sApiCoreV1SecurityContext';
import { DaemonSet, Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

type Validating = new (data: never) => { validate(): void };

/** The only kinds the chart may render, each with its schema. */
export const ALLOWED_KINDS: ReadonlyMap<string, Validating> = new Map<string, Validating>([
  ['v1/ConfigMap', ConfigMap],
  ['v1/Secret', Secret],
  ['v1/Service', Service],
  ['v1/ServiceAccount', ServiceAccount],
  ['apps/v1/DaemonSet', DaemonSet],
  ['apps/v1/Deployment', Deployment],
  ['apps/v1/StatefulSet', StatefulSet],
  ['batch/v1/Job', Job],
  ['policy/v1/PodDisruptionBudget', PodDisruptionBudget],
  ['networking.k8s.io/v1/NetworkPolicy', NetworkPolicy],
  ['rbac.authorization.k8s.io/v1/ClusterRole', ClusterRole],
  ['rbac.authorization.k8s.io/v1/ClusterRoleBinding', ClusterRoleBinding],
  ['monitoring.coreos.com/v1/ServiceMonitor', ServiceMonitor],
]);

/** Every problem with one object: a kind outside the list, a schema violation, an unknown field. */
export function manifestProblems(manifest: Manifest): string[] {
  const kind = `${manifest.apiVersion}/${manifest.kind}`;
  const where = `${kind} ${manifest.metadata?.name}`;
  const Model = ALLOWED_KINDS.get(kind);
  if (!Model) return [`${where}: not an allowed kind`];
  const problems: string[] = [];
  try {
    new Model(manifest as never).validate();
  } catch (err) {
    problems.push(`${where}: ${(err as Error).message}`);
  }
  const pod = podSpecOf(manifest);
  if (pod) problems.push(...unknownFieldsOfPod(pod).map((p) => `${where}: ${p}`));
  return problems;
}

/** The pod template's spec of a workload, if the object has one. */
export function podSpecOf(manifest: Manifest): Record<string, unknown> | undefined {
  const spec = manifest.spec as { template?: { spec?: Record<string, unknown> } } | undefined;
  return spec?.template?.spec;
}

function unknownFieldsOfPod(pod: Record<string, unknown>): string[] {
  const problems = unknownFields(validatePodSpec, pod, 'spec.template.spec');
  if (pod.securityContext) {
    problems.push(
      ...unknownFields(
        validatePodSecurityContext,
        pod.securityContext as Record<string, unknown>,
        'spec.template.spec.securityContext',
      ),
    );
  }
  const containers = [
    ...((pod.containers ?? []) as Record<string, unknown>[]),
    ...((pod.initContainers ?? []) as Record<string, unknown>[]),
  ];
  for (const container of containers) {
    const path = `container ${String(container.name)}`;
    problems.push(...unknownFields(validateContainer, container, path));
    if (container.securityContext) {
      problems.push(
        ...unknownFields(
          validateSecurityContext,
          container.securityContext as Record<string, unknown>,
          `${path} securityContext`,
        ),
      );
    }
  }
  return problems;
}

type Validator = ((data: unknown) => boolean) & { errors?: { instancePath: string }[] | null };

/**
 * Fields the schema does not know. The validators allow unknown fields, so each field is
 * replaced by a boolean and then by a string: a field the schema types rejects at least
 * one of them; a field it does not know accepts both.
 */
export function unknownFields(
  validate: (data: unknown) => boolean,
  object: Record<string, unknown>,
  path: string,
): string[] {
  const check = validate as Validator;
  return Object.keys(object)
    .filter((field) =>
      [true, 'probe'].every((probe) => {
        if (check({ ...object, [field]: probe })) return true;
        return !(check.errors ?? []).some(
          (e) => e.instancePath === `/${field}` || e.instancePath.startsWith(`/${field}/`),
        );
      }),
    )
    .map((field) => `${path}: unknown field ${field}`);
}
