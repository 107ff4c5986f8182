// The Helm chart: lint, renders valid against the Kubernetes schemas, golden renders,
// and the rules the chart promises (least privilege, documented values, strict schema).
// Rewrite the golden renders after an intended change: UPDATE_GOLDEN=1 npx vitest run test/helm-chart.test.ts
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validate as validateContainer } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Container';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadAgentConfig } from '../agent/config.js';
import { repoRoot } from '../agent/repo-root.js';
import { loadCollectorConfig } from '../collector/config.js';
import { parseInventory } from '../collector/k8s/inventory.js';
import { HelmHome, helmUnavailable } from './lab/helm.js';
import { manifestProblems, podSpecOf, unknownFields } from './lab/kubernetes-schemas.js';
import type { Manifest } from './lab/kubernetes-schemas.js';

const ROOT = repoRoot();
const CHART = join(ROOT, 'helm', 'rstscope');
const PRODUCTION = join(CHART, 'examples', 'production.yaml');
const GOLDEN = join(ROOT, 'test', 'golden', 'helm');
// A current release, so that capabilities-gated templates render as they would there.
const KUBE_VERSION = '1.33.0';
const SERVICE_MONITOR_API = 'monitoring.coreos.com/v1/ServiceMonitor';
const INVENTORY_FILE = '/etc/rstscope/inventory/inventory.json';
const ATTRIBUTION_OFF = [
  '--set',
  'agent.kubernetes.enabled=false',
  '--set',
  'collector.kubernetes.enabled=false',
];

interface Container {
  args: string[];
  env: {
    name: string;
    value?: string;
    valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
  }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}

interface Volume {
  name: string;
  hostPath?: { path: string };
  configMap?: { name: string; items: { key: string; path: string }[] };
}

function containerOf(manifest: Manifest): Container {
  return (podSpecOf(manifest)!.containers as Container[])[0]!;
}

function volumesOf(manifest: Manifest): Volume[] {
  return (podSpecOf(manifest)!.volumes ?? []) as Volume[];
}

/**
 * The arguments as kubelet passes them: $(VAR) replaced by the container's env, the
 * downward API's node name given as `node`. Without the image's `agent`/`collector`.
 */
function kubeletArgs(
  container: Container,
  node: string,
): { argv: string[]; env: NodeJS.ProcessEnv } {
  const env: NodeJS.ProcessEnv = {};
  for (const e of container.env) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env[e.name] = node;
  }
  const argv = container.args
    .slice(1)
    .map((a) => a.replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (_, name: string) => env[name] ?? ''));
  return { argv, env };
}

function podAnnotations(manifest: Manifest): Record<string, string> {
  const spec = manifest.spec as {
    template: { metadata: { annotations?: Record<string, string> } };
  };
  return spec.template.metadata.annotations ?? {};
}

const unavailable = helmUnavailable();
if (unavailable) console.warn(`helm-chart tests skipped: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('helm chart', () => {
  let helm: HelmHome;
  beforeAll(() => {
    helm = new HelmHome();
  });
  afterAll(() => helm?.remove());

  function template(...args: string[]): string {
    return helm.output([
      'template',
      'rstscope',
      CHART,
      '--namespace',
      'rstscope',
      '--kube-version',
      KUBE_VERSION,
      ...args,
    ]);
  }

  function manifests(rendered: string): Manifest[] {
    return parseAllDocuments(rendered)
      .map((doc) => {
        if (doc.errors.length) throw doc.errors[0];
        return doc.toJS() as Manifest | null;
      })
      .filter((m): m is Manifest => m !== null);
  }

  function only(objects: Manifest[], kind: string, nameEnd: string): Manifest {
    const found = objects.filter((m) => m.kind === kind && m.metadata.name.endsWith(nameEnd));
    expect(found, `${kind} *${nameEnd}`).toHaveLength(1);
    return found[0]!;
  }

  const renders: Record<string, () => string[]> = {
    default: () => [],
    production: () => ['-f', PRODUCTION],
  };

  describe.each(Object.keys(renders))('%s values', (name) => {
    const args = () => renders[name]!();

    it('passes helm lint --strict', () => {
      const result = helm.run(['lint', '--strict', CHART, ...args()]);
      expect(result.stderr + result.stdout).toContain('0 chart(s) failed');
      expect(result.status).toBe(0);
    });

    it('renders only allowed kinds, each valid against the Kubernetes schemas', () => {
      const objects = manifests(template(...args()));
      expect(objects.length).toBeGreaterThan(10);
      expect(objects.flatMap(manifestProblems)).toEqual([]);
    });

    it('renders byte for byte as the golden render', () => {
      const rendered = template(...args());
      const file = join(GOLDEN, `${name}.yaml`);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, rendered);
      expect(rendered).toBe(readFileSync(file, 'utf8'));
    });

    it('gives the agent exactly CAP_BPF and CAP_PERFMON, nothing privileged, no hostPID', () => {
      const objects = manifests(template(...args()));
      const agent = podSpecOf(only(objects, 'DaemonSet', '-agent'))!;
      expect(agent.hostPID).not.toBe(true);
      const [container] = agent.containers as {
        securityContext: Record<string, unknown> & {
          capabilities: { add: string[]; drop: string[] };
        };
        volumeMounts: { mountPath: string; readOnly?: boolean }[];
        args: string[];
        env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
      }[];
      expect(container!.securityContext.capabilities.drop).toEqual(['ALL']);
      expect([...container!.securityContext.capabilities.add].sort()).toEqual(['BPF', 'PERFMON']);
      expect(container!.securityContext.privileged).toBe(false);
      expect(container!.securityContext.readOnlyRootFilesystem).toBe(true);
      expect(container!.volumeMounts.every((m) => m.readOnly === true)).toBe(true);
      expect(container!.volumeMounts.map((m) => m.mountPath)).toContain('/sys/kernel/btf');
      expect(container!.args).toContain('--host=$(NODE_NAME)');
      const nodeName = container!.env.find((e) => e.name === 'NODE_NAME');
      expect(nodeName?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
      expect(agent.tolerations).toEqual([{ operator: 'Exists' }]);
      expect(agent.priorityClassName).toBe('system-node-critical');
      expect(JSON.stringify(objects)).not.toMatch(/"privileged":true/);
    });

    it('runs the collector as non-root on a read-only root filesystem', () => {
      const objects = manifests(template(...args()));
      const collector = podSpecOf(only(objects, 'Deployment', '-collector'))!;
      expect((collector.securityContext as { runAsNonRoot: boolean }).runAsNonRoot).toBe(true);
      for (const c of collector.containers as { securityContext: Record<string, unknown> }[]) {
        expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
        expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
        expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'] });
      }
    });
  });

  it('keeps the golden renders directory to the two documented renders', () => {
    expect(readdirSync(GOLDEN).sort()).toEqual(['default.yaml', 'production.yaml']);
  });

  it('runs two collectors behind a PodDisruptionBudget and a gRPC probe by default', () => {
    const objects = manifests(template());
    const deployment = only(objects, 'Deployment', '-collector');
    expect((deployment.spec as { replicas: number }).replicas).toBe(2);
    only(objects, 'PodDisruptionBudget', '-collector');
    const [container] = podSpecOf(deployment)!.containers as {
      readinessProbe: { grpc?: { port: number } };
    }[];
    expect(container!.readinessProbe.grpc?.port).toBe(7470);
    const service = only(objects, 'Service', '-collector');
    expect((service.spec as { ports: { port: number }[] }).ports[0]!.port).toBe(7470);
  });

  it('grants list and watch on pods, services, endpointslices and nodes (the agent pods only), and get on the owners that name workloads', () => {
    const objects = manifests(template());
    const rules = (role: Manifest) =>
      (role.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[]).flatMap((r) =>
        r.resources.map((res) => `${r.apiGroups[0]}/${res}:${r.verbs.join(',')}`),
      );
    // List and watch, no get: the reflectors (k8s/reflector.ts) only list and watch; the
    // only single-object reads are the owners OwnerLookup gets (k8s/workload.ts).
    expect(rules(only(objects, 'ClusterRole', '-collector')).sort()).toEqual([
      '/nodes:list,watch',
      '/pods:list,watch',
      '/services:list,watch',
      'apps/replicasets:get',
      'batch/jobs:get',
      'discovery.k8s.io/endpointslices:list,watch',
    ]);
    expect(rules(only(objects, 'ClusterRole', '-agent')).sort()).toEqual([
      '/pods:list,watch',
      'apps/replicasets:get',
      'batch/jobs:get',
    ]);
  });

  it('renders the ServiceMonitor only when asked for and the cluster has its API', () => {
    const kinds = (...args: string[]) => manifests(template(...args)).map((m) => m.kind);
    expect(kinds()).not.toContain('ServiceMonitor');
    expect(kinds('--set', 'serviceMonitor.enabled=true')).not.toContain('ServiceMonitor');
    const objects = manifests(
      template('--set', 'serviceMonitor.enabled=true', '--api-versions', SERVICE_MONITOR_API),
    );
    expect(objects.map((m) => m.kind)).toContain('ServiceMonitor');
    expect(objects.flatMap(manifestProblems)).toEqual([]);
  });

  it('renders a valid bundled NATS with JetStream that the agent and collector use', () => {
    const objects = manifests(template('--set', 'nats.bundled.enabled=true'));
    expect(objects.flatMap(manifestProblems)).toEqual([]);
    const nats = only(objects, 'StatefulSet', '-nats');
    const [server] = podSpecOf(nats)!.containers as { args: string[] }[];
    expect(server!.args).toContain('-js');
    const natsEnv = (m: Manifest) =>
      (podSpecOf(m)!.containers as { env: { name: string; value?: string }[] }[])[0]!.env.find(
        (e) => e.name === 'RSTSCOPE_NATS',
      )?.value;
    expect(natsEnv(only(objects, 'DaemonSet', '-agent'))).toBe('nats://rstscope-nats:4222');
    expect(natsEnv(only(objects, 'Deployment', '-collector'))).toBe('nats://rstscope-nats:4222');
  });

  it('gives the agent pod attribution: --kube=on, the node from the downward API, the host cgroup tree read-only', () => {
    const agent = only(manifests(template()), 'DaemonSet', '-agent');
    const container = containerOf(agent);
    expect(container.args).toEqual(
      expect.arrayContaining([
        '--kube=on',
        '--node-name=$(NODE_NAME)',
        '--cgroup-root=/host/sys/fs/cgroup',
      ]),
    );
    const nodeName = container.env.find((e) => e.name === 'NODE_NAME');
    expect(nodeName?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
    const cgroup = container.volumeMounts.find((m) => m.mountPath === '/host/sys/fs/cgroup');
    expect(cgroup?.readOnly).toBe(true);
    const volume = volumesOf(agent).find((v) => v.name === cgroup?.name);
    expect(volume?.hostPath?.path).toBe('/sys/fs/cgroup');
    expect(podSpecOf(agent)!.automountServiceAccountToken).toBe(true);

    // A node in systemd's hybrid mode has its cgroup v2 hierarchy beside the v1 controllers.
    const hybrid = only(
      manifests(template('--set', 'agent.kubernetes.hostCgroupRoot=/sys/fs/cgroup/unified')),
      'DaemonSet',
      '-agent',
    );
    expect(volumesOf(hybrid).find((v) => v.name === cgroup?.name)?.hostPath?.path).toBe(
      '/sys/fs/cgroup/unified',
    );
    expect(containerOf(hybrid).args).toContain('--cgroup-root=/host/sys/fs/cgroup');
  });

  it("passes the agent only flags its own config accepts, naming this node and the host's cgroup tree", () => {
    const on = kubeletArgs(
      containerOf(only(manifests(template()), 'DaemonSet', '-agent')),
      'node-a',
    );
    // No service account exists on this machine: the chart's flags with the API pointed at
    // loopback, so that the rest of the config is still checked as the agent checks it.
    const config = loadAgentConfig([...on.argv, '--kube-api=http://127.0.0.1:6443'], on.env);
    expect(config.kube?.server.href).toBe('http://127.0.0.1:6443/');
    expect(config.nodeName).toBe('node-a');
    expect(config.host).toBe('node-a');
    expect(config.cgroupRoot).toBe('/host/sys/fs/cgroup');
    // In a pod --kube=on means the service account; outside one it fails, in one line.
    expect(() => loadAgentConfig(on.argv, on.env)).toThrow(/not in a Kubernetes pod/);

    const off = kubeletArgs(
      containerOf(only(manifests(template(...ATTRIBUTION_OFF)), 'DaemonSet', '-agent')),
      'node-a',
    );
    const offConfig = loadAgentConfig(off.argv, {
      ...off.env,
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
    });
    expect(offConfig.kube).toBeUndefined();
    expect(offConfig.cgroupRoot).toBeUndefined();
  });

  it('gives the collector --kube=on and, with an inventory, --inventory on its ConfigMap mounted read-only', () => {
    const plain = only(manifests(template()), 'Deployment', '-collector');
    expect(containerOf(plain).args).toContain('--kube=on');
    expect(containerOf(plain).args.some((a) => a.startsWith('--inventory'))).toBe(false);
    expect(podSpecOf(plain)!.automountServiceAccountToken).toBe(true);

    const objects = manifests(template('-f', PRODUCTION));
    const collector = only(objects, 'Deployment', '-collector');
    const container = containerOf(collector);
    expect(container.args).toContain('--kube=on');
    expect(container.args).toContain(`--inventory=${INVENTORY_FILE}`);
    const mount = container.volumeMounts.find((m) => INVENTORY_FILE.startsWith(`${m.mountPath}/`));
    expect(mount?.readOnly).toBe(true);
    const volume = volumesOf(collector).find((v) => v.name === mount?.name);
    const configMap = only(objects, 'ConfigMap', '-inventory');
    expect(volume?.configMap?.name).toBe(configMap.metadata.name);
    expect(volume?.configMap?.items).toEqual([{ key: 'inventory.json', path: 'inventory.json' }]);
    expect(podAnnotations(collector)['checksum/inventory']).toMatch(/^[0-9a-f]{64}$/);
  });

  it("passes the collector only flags its own config accepts, the inventory read from the ConfigMap's file", () => {
    // The production example without the Secrets whose files exist only in a pod.
    const objects = manifests(
      template(
        '-f',
        PRODUCTION,
        ...['--set', 'query.tls.existingSecret=', '--set', 'query.token.existingSecret='],
        ...['--set', 'clickhouse.tlsSecret='],
      ),
    );
    const { argv, env } = kubeletArgs(containerOf(only(objects, 'Deployment', '-collector')), '');
    // The ConfigMap volume, as kubelet would project it, in a temp dir.
    const volume = mkdtempSync(join(tmpdir(), 'rstscope-inventory-'));
    try {
      const configMap = only(objects, 'ConfigMap', '-inventory');
      const data = configMap.data as Record<string, string>;
      mkdirSync(join(volume, 'inventory'));
      writeFileSync(join(volume, 'inventory', 'inventory.json'), data['inventory.json']!);
      const local = argv.map((a) => a.replace('=/etc/rstscope/', `=${volume}/`));
      expect(local).not.toEqual(argv);
      // No service account here: the API at loopback, the rest checked as the collector does.
      const config = loadCollectorConfig([...local, '--kube-api=http://127.0.0.1:6443'], env);
      expect(config.kube?.server.href).toBe('http://127.0.0.1:6443/');
      expect(config.inventory?.lookup('10.0.255.1')?.name).toBe('nat-gateway');
      expect(() => loadCollectorConfig(local, env)).toThrow(/not in a Kubernetes pod/);
    } finally {
      rmSync(volume, { recursive: true, force: true });
    }
    const off = kubeletArgs(
      containerOf(only(manifests(template(...ATTRIBUTION_OFF)), 'Deployment', '-collector')),
      '',
    );
    const offConfig = loadCollectorConfig(off.argv, {
      ...off.env,
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
    });
    expect(offConfig.kube).toBeUndefined();
    expect(offConfig.inventory).toBeUndefined();
  });

  it('renders an inventory the collector parses, with the middlebox CIDR of the production example', () => {
    const configMap = only(manifests(template('-f', PRODUCTION)), 'ConfigMap', '-inventory');
    const text = (configMap.data as Record<string, string>)['inventory.json']!;
    const inventory = parseInventory(text, 'the chart inventory');
    expect(inventory.size).toBe(3);
    expect(inventory.lookup('10.0.255.9')).toMatchObject({
      name: 'nat-gateway',
      kind: 'middlebox',
      labels: { vendor: 'aws', zone: 'eu-central-1a' },
    });
    // Longest prefix first: the /32 inside the /16 names the database, not the VMs.
    expect(inventory.lookup('10.40.3.10')).toMatchObject({ name: 'billing-db', kind: 'service' });
    expect(inventory.lookup('10.40.7.1')).toMatchObject({ name: 'legacy-vms', kind: 'host' });
    expect(inventory.lookup('10.0.255.16')).toBeUndefined();
  });

  it('rolls the collectors when the inventory changes, and only then', () => {
    const checksum = (...args: string[]) =>
      podAnnotations(
        only(manifests(template('-f', PRODUCTION, ...args)), 'Deployment', '-collector'),
      )['checksum/inventory'];
    const before = checksum();
    expect(checksum()).toBe(before);
    expect(checksum('--set', 'collector.inventory.entries[0].name=nat-gw')).not.toBe(before);
  });

  it("mounts an existing inventory ConfigMap's key instead of rendering one", () => {
    const objects = manifests(
      template(
        '--set',
        'collector.inventory.existingConfigMap=site-inventory',
        '--set',
        'collector.inventory.existingConfigMapKey=hosts.json',
      ),
    );
    expect(objects.flatMap(manifestProblems)).toEqual([]);
    expect(objects.filter((m) => m.metadata.name.endsWith('-inventory'))).toEqual([]);
    const collector = only(objects, 'Deployment', '-collector');
    expect(containerOf(collector).args).toContain(`--inventory=${INVENTORY_FILE}`);
    const volume = volumesOf(collector).find((v) => v.configMap?.name === 'site-inventory');
    expect(volume?.configMap?.items).toEqual([{ key: 'hosts.json', path: 'inventory.json' }]);
    expect(podAnnotations(collector)['checksum/inventory']).toBeUndefined();
  });

  it('refuses inventory entries and an existing ConfigMap together, and an entry of an unknown kind', () => {
    const both = helm.run([
      'template',
      'x',
      CHART,
      '-f',
      PRODUCTION,
      '--set',
      'collector.inventory.existingConfigMap=site-inventory',
    ]);
    expect(both.status).not.toBe(0);
    expect(both.stderr).toContain(
      'collector.inventory: give entries or existingConfigMap, not both',
    );
    const kind = helm.run([
      'template',
      'x',
      CHART,
      '-f',
      PRODUCTION,
      '--set',
      'collector.inventory.entries[0].kind=router',
    ]);
    expect(kind.status).not.toBe(0);
    expect(kind.stderr).toMatch(/collector\.inventory\.entries\.0\.kind must be one of/);
  });

  it('turns attribution off: --kube=off, no node or cgroup flags, no cgroup mount, no token, no ClusterRoles', () => {
    const objects = manifests(template('-f', PRODUCTION, ...ATTRIBUTION_OFF));
    expect(objects.flatMap(manifestProblems)).toEqual([]);
    const agent = only(objects, 'DaemonSet', '-agent');
    const agentArgs = containerOf(agent).args;
    expect(agentArgs).toContain('--kube=off');
    expect(agentArgs.filter((a) => /^--(kube=on|node-name|cgroup-root)/.test(a))).toEqual([]);
    expect(containerOf(agent).volumeMounts.map((m) => m.mountPath)).not.toContain(
      '/host/sys/fs/cgroup',
    );
    expect(volumesOf(agent).map((v) => v.hostPath?.path)).not.toContain('/sys/fs/cgroup');
    const collector = only(objects, 'Deployment', '-collector');
    expect(containerOf(collector).args).toContain('--kube=off');
    expect(containerOf(collector).args).not.toContain('--kube=on');
    // The inventory works without Kubernetes: it stays.
    expect(containerOf(collector).args).toContain(`--inventory=${INVENTORY_FILE}`);
    for (const workload of [agent, collector]) {
      expect(podSpecOf(workload)!.automountServiceAccountToken).toBe(false);
    }
    expect(objects.map((m) => m.kind)).not.toContain('ClusterRole');
    expect(objects.map((m) => m.kind)).not.toContain('ClusterRoleBinding');
    expect(objects.filter((m) => m.kind === 'ServiceAccount')).toHaveLength(2);
  });

  it("passes NATS TLS and each node's own nkey seed to the agents, the collectors' to the collectors, from Secrets", () => {
    const rendered = manifests(
      template(
        ...['--set', 'nats.tls.caSecret=nats-ca', '--set', 'nats.tls.clientSecret=nats-client'],
        ...['--set', 'nats.auth.collectorSecret=nats-collector'],
        ...['--set', 'nats.auth.agentSecret=nats-agents'],
      ),
    );
    const agent = only(rendered, 'DaemonSet', '-agent');
    const collector = only(rendered, 'Deployment', '-collector');
    const tls = [
      '--nats-ca=/etc/rstscope/nats-ca/ca.crt',
      '--nats-cert=/etc/rstscope/nats-client/tls.crt',
      '--nats-key=/etc/rstscope/nats-client/tls.key',
    ];
    const agentArgs = kubeletArgs(containerOf(agent), 'node-a');
    expect(agentArgs.argv).toEqual(
      expect.arrayContaining([...tls, '--nats-nkey=/etc/rstscope/nats-auth/agent-node-a.nk']),
    );
    const collectorArgs = kubeletArgs(containerOf(collector), 'node-a');
    expect(collectorArgs.argv).toEqual(
      expect.arrayContaining([...tls, '--nats-nkey=/etc/rstscope/nats-auth/collector.nk']),
    );
    for (const manifest of [agent, collector]) {
      const mounts = containerOf(manifest).volumeMounts.filter((m) => m.name.startsWith('nats-'));
      expect(mounts.map((m) => [m.name, m.readOnly])).toEqual([
        ['nats-ca', true],
        ['nats-client', true],
        ['nats-auth', true],
      ]);
      const secrets = volumesOf(manifest)
        .filter((v) => v.name.startsWith('nats-'))
        .map((v) => (v as { secret?: { secretName: string } }).secret?.secretName);
      expect(secrets).toEqual([
        'nats-ca',
        'nats-client',
        manifest === agent ? 'nats-agents' : 'nats-collector',
      ]);
    }
    // The flags are the agent's and collector's own: they fail only on reading the files.
    expect(() => loadAgentConfig(agentArgs.argv, agentArgs.env)).toThrow(
      /^--nats-ca \/etc\/rstscope\/nats-ca\/ca\.crt: cannot read it/,
    );
    expect(() => loadCollectorConfig(collectorArgs.argv, collectorArgs.env)).toThrow(
      /^--nats-ca \/etc\/rstscope\/nats-ca\/ca\.crt: cannot read it/,
    );

    // A seed placed on each node instead: only that file is mounted, from the host.
    const perNode = only(
      manifests(template('--set', 'nats.auth.agentSeedHostPath=/etc/rstscope/nats.nk')),
      'DaemonSet',
      '-agent',
    );
    expect(containerOf(perNode).args).toContain('--nats-nkey=/etc/rstscope/nats-auth/agent.nk');
    expect(volumesOf(perNode).find((v) => v.name === 'nats-auth')).toEqual({
      name: 'nats-auth',
      hostPath: { path: '/etc/rstscope/nats.nk', type: 'File' },
    });
  });

  it('with ClickHouse roles: the collectors insert and query as their own users, a hook Job migrates as the owner', () => {
    const roles = [
      ...['--set', 'clickhouse.roles.enabled=true', '--set', 'clickhouse.existingSecret=ch-users'],
    ];
    const rendered = manifests(template(...roles));
    for (const manifest of rendered) expect(manifestProblems(manifest)).toEqual([]);
    const collector = containerOf(only(rendered, 'Deployment', '-collector'));
    expect(collector.args).toContain('--clickhouse-query-user=rstscope_api');
    expect(collector.env).toEqual(
      expect.arrayContaining([
        {
          name: 'CLICKHOUSE_QUERY_PASSWORD',
          valueFrom: { secretKeyRef: { name: 'ch-users', key: 'query-password' } },
        },
      ]),
    );
    const job = only(rendered, 'Job', '-migrate');
    expect((job.metadata as { annotations?: Record<string, string> }).annotations).toMatchObject({
      'helm.sh/hook': 'pre-install,pre-upgrade',
    });
    const migrate = containerOf(job);
    const args = kubeletArgs(migrate, 'node-a');
    expect(args.argv).toEqual(
      expect.arrayContaining(['--migrate-only', '--clickhouse-user=rstscope_migrator']),
    );
    expect(migrate.env).toEqual([
      {
        name: 'CLICKHOUSE_PASSWORD',
        valueFrom: { secretKeyRef: { name: 'ch-users', key: 'migrator-password' } },
      },
    ]);
    // The flags are the collector's own.
    const config = loadCollectorConfig(args.argv, { ...args.env, CLICKHOUSE_PASSWORD: 'x' });
    expect(config.roles.migrateOnly).toBe(true);
    expect(config.storage.user).toBe('rstscope_migrator');

    // Without roles: no Job, no query user. Roles without a Secret: refused.
    const plain = manifests(template());
    expect(plain.filter((m) => m.kind === 'Job')).toEqual([]);
    const noSecret = helm.run(['template', 'x', CHART, '--set', 'clickhouse.roles.enabled=true']);
    expect(noSecret.status).not.toBe(0);
    expect(noSecret.stderr).toMatch(/clickhouse.roles.enabled needs clickhouse.existingSecret/);
  });

  it('rejects a value of the wrong type or an unknown key, naming it', () => {
    const wrongType = helm.run(['template', 'x', CHART, '--set-string', 'collector.replicas=two']);
    expect(wrongType.status).not.toBe(0);
    expect(wrongType.stderr).toMatch(/collector\.replicas: Invalid type\. Expected: integer/);
    const unknown = helm.run(['template', 'x', CHART, '--set', 'agent.privileged=true']);
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toMatch(/Additional property privileged is not allowed/);
  });
});

describe('chart files', () => {
  it('documents every value in values.yaml with a # -- comment', () => {
    const lines = readFileSync(join(CHART, 'values.yaml'), 'utf8').split('\n');
    const undocumented = lines.flatMap((line, i) => {
      const key = /^\s*([A-Za-z0-9_]+):/.exec(line);
      if (!key) return [];
      let j = i - 1;
      while (j >= 0 && /^\s*#(?! --)/.test(lines[j]!)) j--;
      return j >= 0 && /^\s*# --/.test(lines[j]!) ? [] : [`line ${i + 1}: ${key[1]}`];
    });
    expect(undocumented).toEqual([]);
  });

  it('ships the dashboards of dashboards/ unchanged', () => {
    const json = (dir: string) =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort();
    const source = join(ROOT, 'dashboards');
    const copy = join(CHART, 'dashboards');
    expect(json(copy)).toEqual(json(source));
    for (const file of json(source)) {
      expect(readFileSync(join(copy, file), 'utf8'), file).toBe(
        readFileSync(join(source, file), 'utf8'),
      );
    }
  });

  it("sets the chart's appVersion to package.json's version", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const chart = readFileSync(join(CHART, 'Chart.yaml'), 'utf8');
    expect(/^appVersion: "(.+)"$/m.exec(chart)?.[1]).toBe(pkg.version);
  });

  it('finds an unknown field in a container, so the schema check can fail', () => {
    const container = { name: 'c', image: 'i', securityContxt: {}, args: [] };
    expect(unknownFields(validateContainer, container, 'c')).toEqual([
      'c: unknown field securityContxt',
    ]);
  });
});
