// Least privilege, found by running the real processes with fewer capabilities:
// the agent needs CAP_BPF and CAP_PERFMON and nothing else, each of the two is
// needed, and the collector needs none, not even root. Root needed (the lab, and
// setpriv to take capabilities away).
//
// The agent runs as the chart runs it: uid 0 holding only the capabilities the
// container runtime adds (setpriv --bounding-set; for uid 0 the permitted and
// effective sets follow the bounding set at exec), no_new_privs
// (allowPrivilegeEscalation: false) and, here, a memlock limit of 0.
import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LOADER_PATH } from '../agent/config.js';
import { coveredAddresses } from '../agent/covered-addresses.js';
import { NetnsProcesses } from '../agent/netns-processes.js';
import { checkCgroupV2Root, localCgroupV2Root } from '../agent/k8s/cgroup-mount.js';
import { QueryClient } from '../cli/query-client.js';
import { Actor } from './lab/actor.js';
import { AgentRunner, RSTSCOPE_BIN } from './lab/agent-runner.js';
import { actorInCgroup } from './lab/cgroup-actor.js';
import { freePort } from './lab/free-port.js';
import { KubeApiDouble } from './lab/kube-api-double.js';
import { Lab } from './lab/lab.js';
import { NatsServer } from './lab/nats-server.js';
import { TestCgroup } from './lab/test-cgroup.js';

const CAP_PERFMON = 38;
const CAP_BPF = 39;
const MINIMAL = (1n << BigInt(CAP_BPF)) | (1n << BigInt(CAP_PERFMON));
/** uid 0 with only CAP_BPF and CAP_PERFMON, no_new_privs, memlock 0. */
const AS_THE_CHART_RUNS_IT = [
  ...['prlimit', '--memlock=0:0'],
  ...['setpriv', '--inh-caps=-all', '--bounding-set=-all,+bpf,+perfmon', '--no-new-privs'],
];
/** An unprivileged user with no capability at all, as the chart runs the collector. */
const NOBODY = 65534;
const AS_NOBODY = [
  ...['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'],
  ...['--inh-caps=-all', '--bounding-set=-all', '--no-new-privs'],
];

const TOKEN = 'agent-token';
// A recorded pod on node-a (test/golden/kube/pods.json), given a cgroup below.
const CHECKOUT = { uid: '3f1c2a7e-9b4d-4e21-8c55-0a9d6b7e1f23', containerId: '4b1e9c0d'.repeat(8) };

interface ProcessCaps {
  uid: string;
  noNewPrivs: string;
  sets: Record<'CapInh' | 'CapPrm' | 'CapEff' | 'CapBnd' | 'CapAmb', bigint>;
}

function processCaps(pid: number): ProcessCaps {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)![1]!;
  const set = (name: string) => BigInt(`0x${field(name)}`);
  return {
    uid: field('Uid').split(/\s+/)[1]!, // effective
    noNewPrivs: field('NoNewPrivs'),
    sets: {
      CapInh: set('CapInh'),
      CapPrm: set('CapPrm'),
      CapEff: set('CapEff'),
      CapBnd: set('CapBnd'),
      CapAmb: set('CapAmb'),
    },
  };
}

/** The agent's rstscope-loader child (its comm), found through /proc. */
function loaderOf(agentPid: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
      if (m?.[1] === 'rstscope-loader' && Number(m[2]) === agentPid) return Number(entry);
    } catch {
      // exited meanwhile
    }
  }
  throw new Error(`no rstscope-loader child of ${agentPid}`);
}

/** Polls an async check (a query) until it holds; past timeoutMs, rejects naming `what`. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const capNames = (bits: bigint, last: number) =>
  Array.from({ length: last + 1 }, (_, i) => i).filter((i) => bits & (1n << BigInt(i)));

describe('the agent with only CAP_BPF and CAP_PERFMON; the collector as nobody with none', () => {
  const host = `caps-${randomBytes(3).toString('hex')}`;
  const checkoutScope = `/rstscope-test-${randomBytes(3).toString('hex')}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${CHECKOUT.uid.replaceAll('-', '_')}.slice/cri-containerd-${CHECKOUT.containerId}.scope`;
  const cleanups: (() => Promise<void> | void)[] = [];
  const children: ChildProcess[] = [];
  let lab: Lab;
  let cgroups: TestCgroup;
  let agent: AgentRunner;
  let collector: ChildProcess;
  let collectorLog = '';
  let query: QueryClient;
  /** Starts an agent as the chart runs it on every namespace: the DaemonSet's way. */
  let startOnEveryNamespace: (host: string) => Promise<AgentRunner>;

  beforeAll(async () => {
    const mount = localCgroupV2Root();
    if (!mount) throw new Error('no cgroup v2 mount on this machine (see /proc/self/mountinfo)');
    await checkCgroupV2Root(mount);
    const dir = mkdtempSync(join(tmpdir(), 'rstscope-caps-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`);

    lab = Lab.create();
    cleanups.push(() => lab.destroy());
    cgroups = new TestCgroup(mount);
    cleanups.push(() => cgroups.destroy());
    cgroups.create(checkoutScope);
    const nats = await NatsServer.start();
    cleanups.push(() => nats.stop());
    const double = await KubeApiDouble.start({
      token: TOKEN,
      lists: ['pods.json', 'pods-lab.json', 'replicasets.json', 'jobs.json'],
    });
    cleanups.push(() => double.close());

    // The collector's data directory is the one thing it writes: nobody's own.
    const dataDir = mkdtempSync(join(tmpdir(), 'rstscope-caps-collector-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    chownSync(dataDir, NOBODY, NOBODY);
    const listen = `127.0.0.1:${await freePort()}`;
    const argv = [
      ...AS_NOBODY,
      ...['env', `HOME=${dataDir}`, RSTSCOPE_BIN, 'collector', '--nats', nats.url],
      ...['--data-dir', dataDir, '--listen', listen, '--max-insert-delay-ms', '300'],
    ];
    collector = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(collector);
    collector.stderr!.setEncoding('utf8');
    collector.stderr!.on('data', (t: string) => (collectorLog += t));
    await eventually(
      async () => {
        if (collector.exitCode !== null) throw new Error(`collector exited: ${collectorLog}`);
        return collectorLog.includes('collector ready');
      },
      'the collector (as nobody) to be ready',
      60_000,
    );
    query = new QueryClient(listen);
    cleanups.push(() => query.close());

    // A process in the server's namespace that the agent may look at (/proc/PID/ns/net
    // needs ptrace access: the same uid and no more capabilities than the agent): the
    // agent reads the namespace's addresses through it.
    children.push(lab.spawn(lab.server, [...AS_THE_CHART_RUNS_IT, 'sleep', '3600']));
    startOnEveryNamespace = (name) =>
      AgentRunner.start(
        [
          ...['--host', name, '--nats', nats.url, '--batch-delay-ms', '50'],
          ...['--kube-api', double.url, '--kube-token-file', tokenFile],
          ...['--node-name', 'node-a', '--cgroup-root', mount],
        ],
        {},
        AS_THE_CHART_RUNS_IT,
      );
    agent = await AgentRunner.start(
      [
        ...lab.namespaces().flatMap((ns) => ['--netns', ns]),
        ...['--host', host, '--nats', nats.url, '--batch-delay-ms', '50'],
        ...['--kube-api', double.url, '--kube-token-file', tokenFile],
        ...['--node-name', 'node-a', '--cgroup-root', mount],
      ],
      {},
      AS_THE_CHART_RUNS_IT,
    );
    cleanups.push(() => agent.kill());
  }, 120_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('captures a lab reset end to end: namespaces by name, its pod from cgroup and API, through NATS into the store', async () => {
    const client = actorInCgroup(cgroups, checkoutScope, lab.client, [
      ...['connect', '--host', lab.server.ipv4, '--port', '9'],
    ]);
    children.push(client.child);
    expect((await client.waitFor('error')).code).toBe('ECONNREFUSED');
    const received = await agent.waitFor(
      (e) => e.direction === 'received' && e.remote_port === 9,
      'the client receiving the closed port’s reset',
    );
    expect(received).toMatchObject({
      reason: 'UNKNOWN',
      pod_uid: CHECKOUT.uid,
      pod_name: 'checkout-7d9f8b6c5d-x2x7q',
      container_id: CHECKOUT.containerId,
      pod_source: 'cgroup',
    });
    await agent.waitFor(
      (e) => e.direction === 'sent' && e.local_port === 9 && e.reason === 'NO_SOCKET',
      'the server’s NO_SOCKET reset',
    );

    // Stored by the collector that runs as nobody with no capability.
    const stored = async () =>
      (
        await query.sql({
          sql: 'SELECT direction, pod_uid FROM resets WHERE host = {host:String} AND (local_port = 9 OR remote_port = 9) ORDER BY direction',
          params: { host },
        })
      ).rows.map((row) => JSON.parse(row) as { direction: string; pod_uid: string });
    await eventually(async () => (await stored()).length === 2, 'both resets stored', 30_000);
    expect(await stored()).toEqual([
      { direction: 'received', pod_uid: CHECKOUT.uid },
      { direction: 'sent', pod_uid: expect.any(String) },
    ]);
  });

  it('the agent and its loader hold CAP_BPF and CAP_PERFMON and nothing else, under no_new_privs', () => {
    const pid = agent.child.pid!;
    for (const caps of [processCaps(pid), processCaps(loaderOf(pid))]) {
      expect(caps).toEqual({
        uid: '0',
        noNewPrivs: '1',
        sets: { CapInh: 0n, CapPrm: MINIMAL, CapEff: MINIMAL, CapBnd: MINIMAL, CapAmb: 0n },
      });
    }
  });

  it('needs none of the other capabilities the kernel knows', () => {
    // A capability only ever allows: the kernel has no check that fails because a
    // capability is held. So one run that works with every other capability gone
    // at once shows that each of them, dropped alone, is not needed either; 39
    // runs of one drop each would prove nothing more.
    const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    const all = (1n << BigInt(last + 1)) - 1n;
    const others = all & ~MINIMAL;
    expect(capNames(others, last)).toHaveLength(last + 1 - 2);
    const pid = agent.child.pid!;
    for (const p of [pid, loaderOf(pid)]) {
      const { sets } = processCaps(p);
      // Not even in the bounding set: nothing this process or its children
      // exec could get one back.
      expect(capNames(sets.CapBnd & others, last)).toEqual([]);
      expect(capNames(sets.CapPrm & others, last)).toEqual([]);
    }
    // ...and it worked: the resets of the test above were captured and published.
    expect(agent.events.items.length).toBeGreaterThanOrEqual(2);
    expect(agent.child.exitCode).toBeNull();
  });

  it('the collector runs as nobody with no capability at all', () => {
    expect(processCaps(collector.pid!)).toEqual({
      uid: String(NOBODY),
      noNewPrivs: '1',
      sets: { CapInh: 0n, CapPrm: 0n, CapEff: 0n, CapBnd: 0n, CapAmb: 0n },
    });
  });

  it('as root, the heartbeat’s address source lists a named namespace’s addresses', async () => {
    // The control for the test below: the same function, with every capability.
    const inode = statSync(`/run/netns/${lab.server.ns}`).ino;
    const { addresses } = await coveredAddresses(
      [{ inode, name: lab.server.ns }],
      new NetnsProcesses(),
    );
    expect(addresses).toContain(lab.server.ipv4);
  });

  // Read through a process in the namespace (/proc/PID/net), not by entering it
  // (setns needs CAP_SYS_ADMIN): the sleeper started before the agent is that process.
  // A namespace with only processes of other users or more capabilities stays unread.
  it('its heartbeats list the addresses of the named namespaces it covers, read through a process in each', async () => {
    const covered = async () =>
      (
        await query.sql({
          sql: 'SELECT count() AS n FROM agents WHERE host = {host:String} AND has(addresses, toIPv6({address:String}))',
          params: { host, address: `::ffff:${lab.server.ipv4}` },
        })
      ).rows.map((row) => Number((JSON.parse(row) as { n: string }).n))[0] ?? 0;
    // A heartbeat is published at the start and every 10 s.
    await eventually(
      async () =>
        (
          await query.sql({
            sql: 'SELECT count() AS n FROM agents WHERE host = {host:String}',
            params: { host },
          })
        ).rows.some((row) => Number((JSON.parse(row) as { n: string }).n) > 0),
      'a heartbeat stored',
      30_000,
    );
    expect(await covered()).toBeGreaterThan(0);
  });

  // Pods' processes run as other users, whose namespaces the agent may not look into:
  // with every namespace covered, this node's pod IPs come from the API instead.
  it("on every namespace, its heartbeats list this node's live pod IPs from the API", async () => {
    const everyHost = `${host}-all`;
    const everywhere = await startOnEveryNamespace(everyHost);
    try {
      const addresses = async () =>
        (
          await query.sql({
            sql: 'SELECT arrayJoin(addresses) AS a FROM (SELECT addresses FROM agents WHERE host = {host:String} ORDER BY ts DESC LIMIT 1)',
            params: { host: everyHost },
          })
        ).rows.map((row) => (JSON.parse(row) as { a: string }).a.replace(/^::ffff:/, ''));
      // The first heartbeat may go before the pod list arrives; the next one is 10 s later.
      await eventually(
        async () => (await addresses()).includes('10.244.1.12'),
        'a heartbeat with the pod IPs',
        30_000,
      );
      const listed = await addresses();
      // checkout, payments-0, debug-shell and the lab's echo-0 run on node-a.
      expect(listed).toEqual(
        expect.arrayContaining(['10.244.1.12', '10.244.1.13', '10.244.1.14', '10.2.0.2']),
      );
      expect(listed).not.toContain('10.244.2.22'); // node-b's
      expect(listed).not.toContain('10.0.0.11'); // a host-network pod: the node's address
      expect(listed).not.toContain('10.244.1.15'); // a finished job
    } finally {
      everywhere.kill();
    }
  });

  it('as a non-root user with CAP_BPF and CAP_PERFMON as ambient capabilities (systemd’s AmbientCapabilities=), it captures too', async () => {
    const user = await AgentRunner.start(['--netns', lab.server.ns], {}, [
      ...['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'],
      ...['--inh-caps=-all,+bpf,+perfmon', '--ambient-caps=-all,+bpf,+perfmon'],
      ...['--bounding-set=-all,+bpf,+perfmon', '--no-new-privs'],
    ]);
    try {
      const client = Actor.connect(lab, lab.client, lab.server.ipv4, 10);
      expect((await client.waitFor('error')).code).toBe('ECONNREFUSED');
      await user.waitFor((e) => e.local_port === 10, 'the closed-port reset');
      expect(processCaps(user.child.pid!)).toMatchObject({ uid: String(NOBODY) });
      const counters = await user.stop();
      expect(counters.entries).toEqual([
        expect.objectContaining({ reason: 'NO_SOCKET', count: 1 }),
      ]);
    } finally {
      user.kill();
    }
  });
});

describe('each capability of the minimal set is needed', () => {
  const onlyCaps = (caps: string[]) => [
    'setpriv',
    '--inh-caps=-all',
    `--bounding-set=-all${caps.map((c) => `,+${c}`).join('')}`,
    '--no-new-privs',
  ];
  // The loader alone, without the agent's own check: the kernel's answer. With
  // stdin at its end it loads, attaches, drains and exits 0; 4 is "load failed".
  const loader = (caps: string[]) =>
    spawnSync(
      onlyCaps(caps)[0]!,
      [...onlyCaps(caps).slice(1), DEFAULT_LOADER_PATH, '--ringbuf-mb', '1'],
      {
        encoding: 'utf8',
        input: '',
        timeout: 30_000,
      },
    );

  it('with both, the loader alone loads, attaches and stops (exit 0)', () => {
    const run = loader(['bpf', 'perfmon']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  for (const [kept, name] of [
    ['perfmon', 'CAP_BPF'],
    ['bpf', 'CAP_PERFMON'],
  ] as const) {
    it(`without ${name}: the agent exits 1 with one line naming it and the fix; the kernel refuses the loader`, () => {
      const run = spawnSync(
        onlyCaps([kept])[0]!,
        [...onlyCaps([kept]).slice(1), RSTSCOPE_BIN, 'agent'],
        {
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      expect(run.status).toBe(1);
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        new RegExp(
          `^rstscope agent: missing capabilities ${name}: run as root, or grant CAP_BPF and CAP_PERFMON \\(Kubernetes: securityContext\\.capabilities\\.add \\[BPF, PERFMON\\]`,
        ),
      );
      expect(lines[0]).toContain(`${name} `); // and what it is for
      expect(lines[0]).not.toMatch(/verifier|libbpf|RLIMIT|\n\s+at /);

      // Not just our check: the kernel refuses to load the programs without it.
      const refused = loader([kept]);
      expect(refused.status).toBe(4);
      expect(refused.stderr).toMatch(
        /^error: BPF programs failed to load: Operation not permitted/,
      );
    });
  }

  it('in a user namespace (a rootless container) whose capabilities do not count: one line, not libbpf’s memlock advice', () => {
    const run = spawnSync('unshare', ['--user', '--map-root-user', RSTSCOPE_BIN, 'agent'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^rstscope agent: runs in a user namespace .*: run it in the host's user namespace with CAP_BPF and CAP_PERFMON$/,
      ),
    ]);
  });
});
