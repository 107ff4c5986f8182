// The agent names the pod and container of real resets: a real `rstscope
// agent` process, real resets from processes in real cgroups named like the
// kubelet's pod and container cgroups on this machine's cgroup v2, and the
// pods from a DOUBLE of the Kubernetes API server (test/lab/kube-api-double.ts)
// serving recorded lists (test/golden/kube/pods.json, pods-lab.json): recorded
// responses, not a cluster; none can run on these machines. Root needed.
import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCgroupV2Root, localCgroupV2Root } from '../agent/k8s/cgroup-mount.js';
import type { ResetEvent } from '../agent/reset-event.js';
import { Actor } from './lab/actor.js';
import { AgentRunner, RSTSCOPE_BIN } from './lab/agent-runner.js';
import { actorInCgroup } from './lab/cgroup-actor.js';
import { freePort } from './lab/free-port.js';
import { KubeApiDouble } from './lab/kube-api-double.js';
import { Lab } from './lab/lab.js';
import { TestCgroup } from './lab/test-cgroup.js';

const TOKEN = 'agent-token';
// Recorded pods on node-a (test/golden/kube/pods.json, pods-lab.json).
const CHECKOUT = {
  uid: '3f1c2a7e-9b4d-4e21-8c55-0a9d6b7e1f23',
  containerId: '4b1e9c0d'.repeat(8),
};
const PAYMENTS = {
  uid: 'c6e8a0b2-4d6f-4e8a-b0c2-d4e6f8a0b2c4',
  containerId: '9a0c3d57'.repeat(8),
};
const ECHO_UID = '5d7f9b1d-3f5b-4d7f-9b1d-3f5b7d9f1b3d';

const slice = (uid: string) => uid.replaceAll('-', '_');
const POD_FIELDS = [
  'pod_uid',
  'pod_name',
  'pod_namespace',
  'container_name',
  'container_id',
  'workload',
  'pod_labels',
  'pod_source',
] as const;
const podFields = (e: ResetEvent) => Object.fromEntries(POD_FIELDS.map((f) => [f, e[f]]));

let mount: string;
let tokenDir: string;
let tokenFile: string;

beforeAll(async () => {
  const found = localCgroupV2Root();
  if (!found) throw new Error('no cgroup v2 mount on this machine (see /proc/self/mountinfo)');
  mount = found;
  await checkCgroupV2Root(mount);
  tokenDir = mkdtempSync(join(tmpdir(), 'rstscope-kube-token-'));
  tokenFile = join(tokenDir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
});

afterAll(() => {
  if (tokenDir) rmSync(tokenDir, { recursive: true, force: true });
});

/** A lab, a test cgroup subtree and what the test spawns, all torn down in afterAll. */
function labFixture() {
  const base = `/rstscope-test-${randomBytes(3).toString('hex')}`;
  const state = {
    base,
    lab: undefined as unknown as Lab,
    cgroups: undefined as unknown as TestCgroup,
    children: [] as ChildProcess[],
    agents: [] as AgentRunner[],
  };
  beforeAll(() => {
    state.cgroups = new TestCgroup(mount);
    state.lab = Lab.create();
  });
  afterAll(async () => {
    for (const child of state.children) child.kill('SIGKILL');
    try {
      for (const agent of state.agents) await agent.stop();
    } finally {
      state.lab?.destroy();
      state.cgroups?.destroy();
    }
  });
  return state;
}

function agentArgs(lab: Lab, kubeApi: string, cgroupRoot = mount): string[] {
  return [
    ...lab.namespaces().flatMap((ns) => ['--netns', ns]),
    ...['--kube-api', kubeApi, '--kube-token-file', tokenFile],
    ...['--node-name', 'node-a', '--cgroup-root', cgroupRoot],
  ];
}

describe('an agent with the Kubernetes API names the pods of real resets', () => {
  const f = labFixture();
  // The systemd driver's layout: a Burstable pod one level below kubepods, a Guaranteed one directly under it.
  const checkoutScope = `${f.base}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${slice(CHECKOUT.uid)}.slice/cri-containerd-${CHECKOUT.containerId}.scope`;
  const paymentsContainer = `${f.base}/kubepods.slice/kubepods-pod${slice(PAYMENTS.uid)}.slice/crio-${PAYMENTS.containerId}.scope/container`;
  const strangerUid = randomUUID();
  const strangerId = randomBytes(32).toString('hex');
  const strangerScope = `${f.base}/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${slice(strangerUid)}.slice/cri-containerd-${strangerId}.scope`;
  let double: KubeApiDouble;
  let agent: AgentRunner;

  beforeAll(async () => {
    double = await KubeApiDouble.start({
      token: TOKEN,
      lists: ['pods.json', 'pods-lab.json', 'replicasets.json', 'jobs.json'],
    });
    f.cgroups.create(checkoutScope);
    f.cgroups.create(strangerScope);
    agent = await AgentRunner.start(agentArgs(f.lab, double.url));
    f.agents.push(agent);
  });
  afterAll(async () => {
    await double?.close();
  });

  it('the client’s received reset names its pod, container, workload and labels (cgroup); the server’s no-socket reset names the pod whose IP it was sent from (address)', async () => {
    const client = actorInCgroup(f.cgroups, checkoutScope, f.lab.client, [
      ...['connect', '--host', f.lab.server.ipv4, '--port', '9'],
    ]);
    f.children.push(client.child);
    expect((await client.waitFor('error')).code).toBe('ECONNREFUSED');
    const recv = await agent.waitFor(
      (e) => e.direction === 'received' && e.remote_port === 9 && e.pod_uid === CHECKOUT.uid,
      'the client receiving the closed port’s reset',
    );
    expect(podFields(recv)).toEqual({
      pod_uid: CHECKOUT.uid,
      pod_name: 'checkout-7d9f8b6c5d-x2x7q',
      pod_namespace: 'shop',
      container_name: 'checkout',
      container_id: CHECKOUT.containerId,
      workload: 'Deployment/checkout',
      pod_labels: { app: 'checkout', 'pod-template-hash': '7d9f8b6c5d' },
      pod_source: 'cgroup',
    });

    // Sent with no socket, in softirq: no cgroup, but its address is echo-0's.
    const sent = await agent.waitFor(
      (e) => e.direction === 'sent' && e.local_port === 9 && e.local_addr === f.lab.server.ipv4,
      'the server’s NO_SOCKET reset',
    );
    expect(sent.cgroup_id).toBe('0');
    expect(podFields(sent)).toEqual({
      pod_uid: ECHO_UID,
      pod_name: 'echo-0',
      pod_namespace: 'lab',
      container_name: '',
      container_id: '',
      workload: 'StatefulSet/echo',
      pod_labels: {
        app: 'echo',
        'apps.kubernetes.io/pod-index': '0',
        'statefulset.kubernetes.io/pod-name': 'echo-0',
      },
      pod_source: 'address',
    });
  });

  it('a container whose cgroup appeared after the agent started is named after one walk; a hostNetwork pod’s address names nobody', async () => {
    // Made now: the agent's first walk has not seen it, so its reset waits for the next.
    f.cgroups.create(paymentsContainer);
    const server = actorInCgroup(f.cgroups, paymentsContainer, f.lab.server, [
      ...['serve', '--port', '8102', '--mode', 'unread', '--wait-ms', '200'],
    ]);
    f.children.push(server.child);
    await server.waitFor('listening');
    const client = Actor.connect(f.lab, f.lab.client, f.lab.server.ipv4, 8102);
    await client.waitFor('connected');
    client.send('send 100');
    expect((await client.waitFor('error')).code).toBe('ECONNRESET');

    const sent = await agent.waitFor(
      (e) => e.direction === 'sent' && e.local_port === 8102,
      'the server’s reset',
    );
    expect(podFields(sent)).toEqual({
      pod_uid: PAYMENTS.uid,
      pod_name: 'payments-0',
      pod_namespace: 'shop',
      container_name: 'payments',
      container_id: PAYMENTS.containerId,
      workload: 'StatefulSet/payments',
      pod_labels: {
        app: 'payments',
        'apps.kubernetes.io/pod-index': '0',
        'statefulset.kubernetes.io/pod-name': 'payments-0',
      },
      pod_source: 'cgroup',
    });
    // The client is this test's own process tree (no pod cgroup) on 10.1.0.2,
    // which the recorded hostNetwork pod lab-proxy also has: not its reset.
    const recv = await agent.waitFor(
      (e) => e.direction === 'received' && e.remote_port === 8102,
      'the client receiving it',
    );
    expect(recv.local_addr).toBe('10.1.0.2');
    expect(podFields(recv)).toEqual(Object.fromEntries(POD_FIELDS.map((k) => [k, undefined])));
  });

  it('a pod the API does not know (yet) still gets its UID and container id from the cgroup path', async () => {
    const client = actorInCgroup(f.cgroups, strangerScope, f.lab.client, [
      ...['connect', '--host', f.lab.server.ipv4, '--port', '7'],
    ]);
    f.children.push(client.child);
    await client.waitFor('error');
    const recv = await agent.waitFor(
      (e) => e.direction === 'received' && e.remote_port === 7,
      'the client receiving the closed port’s reset',
    );
    expect(podFields(recv)).toEqual({
      pod_uid: strangerUid,
      pod_name: '',
      pod_namespace: '',
      container_name: '',
      container_id: strangerId,
      workload: '',
      pod_labels: {},
      pod_source: 'cgroup',
    });
  });
});

describe('an agent whose Kubernetes API cannot help still captures every reset', () => {
  const f = labFixture();
  const scope = `${f.base}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${slice(CHECKOUT.uid)}.slice/cri-containerd-${CHECKOUT.containerId}.scope`;
  beforeAll(() => {
    f.cgroups.create(scope);
  });

  async function resetFromCheckout(agent: AgentRunner, port: number): Promise<ResetEvent> {
    const client = actorInCgroup(f.cgroups, scope, f.lab.client, [
      ...['connect', '--host', f.lab.server.ipv4, '--port', String(port)],
    ]);
    f.children.push(client.child);
    await client.waitFor('error');
    return agent.waitFor(
      (e) => e.direction === 'received' && e.remote_port === port,
      'the client receiving the closed port’s reset',
    );
  }

  const warnings = (agent: AgentRunner, pattern: RegExp) =>
    agent.stderr.split('\n').filter((line) => pattern.test(line));

  it('unreachable: events flow with the pod UID from the cgroup only, and one log line says why', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const agent = await AgentRunner.start(agentArgs(f.lab, closed));
    f.agents.push(agent);
    const recv = await resetFromCheckout(agent, 9);
    expect(podFields(recv)).toMatchObject({
      pod_uid: CHECKOUT.uid,
      container_id: CHECKOUT.containerId,
      pod_name: '',
      pod_source: 'cgroup',
    });
    // Long enough for the reflector to have retried several times (backoff from 0.5 s).
    await new Promise((r) => setTimeout(r, 3_000));
    const lines = warnings(agent, /pods not named for now/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`cannot reach the Kubernetes API at ${closed}: connection refused`);
    expect(lines[0]).toContain('resets go on without pod names, retrying');
  });

  it('a --cgroup-root that is no cgroup v2 mount stops the agent with one line and exit 2', () => {
    const run = spawnSync(
      RSTSCOPE_BIN,
      ['agent', ...agentArgs(f.lab, 'http://127.0.0.1:1', tokenDir)],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(
          `^rstscope agent: --cgroup-root: cgroup root ${tokenDir} is not a cgroup v2 mount`,
        ),
      ),
    ]);
  });

  it('forbidden: events flow and one line names the RBAC rule to grant', async () => {
    const double = await KubeApiDouble.start({ token: TOKEN, lists: ['pods.json'] });
    try {
      double.forbid('list', 'pods');
      const agent = await AgentRunner.start(agentArgs(f.lab, double.url));
      f.agents.push(agent);
      const recv = await resetFromCheckout(agent, 7);
      expect(recv.pod_name).toBe('');
      await new Promise((r) => setTimeout(r, 2_000));
      const lines = warnings(agent, /pods not named for now/);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/RBAC forbids list pods at cluster scope: grant verb \\"list\\"/);
    } finally {
      await double.close();
    }
  });
});
