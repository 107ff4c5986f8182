// The agent's cgroup side of pod attribution: a cgroup path → runtime, pod UID,
// container id and QoS, on container paths labelled by runtime and cgroup
// driver; the cgroup id → path index on a directory tree; and, on this
// machine's real cgroup v2 (root), a reset from a process in a pod-named
// cgroup whose recorded cgroup_id resolves to that cgroup and that pod.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgroupIndex } from '../agent/k8s/cgroup-index.js';
import {
  cgroupV2MountPoints,
  checkCgroupV2Root,
  localCgroupV2Root,
} from '../agent/k8s/cgroup-mount.js';
import { parseCgroupPath } from '../agent/k8s/cgroup-path.js';
import type { CgroupAttribution } from '../agent/k8s/cgroup-path.js';
import { ACTOR_SCRIPT, Actor } from './lab/actor.js';
import type { ActorEvent } from './lab/actor.js';
import { AgentRunner } from './lab/agent-runner.js';
import { JsonLines } from './lab/json-lines.js';
import { Lab } from './lab/lab.js';
import type { LabHost } from './lab/lab.js';
import { TestCgroup } from './lab/test-cgroup.js';

interface PathCase {
  label: string;
  path: string;
  expected: CgroupAttribution;
}

const fixture = JSON.parse(
  readFileSync(new URL('./golden/cgroups/container-paths.json', import.meta.url), 'utf8'),
) as { cases: PathCase[] };

const ino = (path: string) => statSync(path, { bigint: true }).ino.toString();

describe('cgroup path → container and pod', () => {
  it.each(fixture.cases.map((c) => [c.label, c] as const))('%s', (_, { path, expected }) => {
    expect(parseCgroupPath(path)).toEqual(expected);
  });

  it('covers containerd and CRI-O under both drivers, and paths outside any pod', () => {
    const labels = fixture.cases.map((c) => c.label);
    for (const want of [
      /^containerd, systemd/,
      /^containerd, cgroupfs/,
      /^CRI-O, systemd/,
      /^CRI-O, cgroupfs/,
      /^not a pod/,
    ]) {
      expect(labels.some((l) => want.test(l))).toBe(true);
    }
  });

  it('gives no pod for a pod-like name that is not a UID', () => {
    expect(parseCgroupPath('/kubepods.slice/kubepods-podnotauid.slice').podUid).toBeUndefined();
    expect(parseCgroupPath('/system.slice/cri-containerd-abc.scope')).toEqual({
      runtime: 'unknown',
    });
  });
});

describe('cgroup v2 mount points', () => {
  it('reads cgroup2 mounts from mountinfo, octal escapes decoded', () => {
    const mountinfo = [
      '25 1 0:22 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw',
      '77 41 0:38 / /host/sys/fs/cgroup\\040ro ro,relatime - cgroup2 cgroup2 ro',
    ].join('\n');
    expect(cgroupV2MountPoints(mountinfo)).toEqual([
      '/sys/fs/cgroup/unified',
      '/host/sys/fs/cgroup ro',
    ]);
  });

  it('refuses a root that is not cgroup v2, saying what to mount', async () => {
    await expect(checkCgroupV2Root(tmpdir())).rejects.toThrow(/is not a cgroup v2 mount/);
    await expect(checkCgroupV2Root('/nonexistent/cgroup')).rejects.toThrow(
      /cannot be read \(ENOENT\); mount the host's cgroup v2 hierarchy/,
    );
  });
});

// The index only reads directories and their inode numbers, so a plain
// directory tree exercises its cache and its rate limit without root.
describe('cgroup id → path index on a directory tree', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rstscope-cgroup-index-'));
    mkdirSync(join(dir, 'kubepods.slice/kubepods-pod1.slice/cri-containerd-a.scope'), {
      recursive: true,
    });
    mkdirSync(join(dir, 'system.slice/containerd.service'), { recursive: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves every directory by its inode, the root as /', async () => {
    const index = new CgroupIndex({ root: dir });
    const scope = 'kubepods.slice/kubepods-pod1.slice/cri-containerd-a.scope';
    expect(await index.resolve(ino(join(dir, scope)))).toBe(`/${scope}`);
    expect(await index.resolve(BigInt(ino(dir)))).toBe('/');
    expect(index.lookup(ino(join(dir, 'system.slice')))).toBe('/system.slice');
    expect(index.stats()).toMatchObject({ walks: 1, hits: 2, misses: 0, entries: 6 });
  });

  it('walks again on a miss for a cgroup made since, but at most once per interval', async () => {
    const index = new CgroupIndex({ root: dir, rewalkIntervalMs: 60_000 });
    await index.rewalk();
    mkdirSync(join(dir, 'kubepods.slice/kubepods-pod2.slice'));
    const late = ino(join(dir, 'kubepods.slice/kubepods-pod2.slice'));
    // The walk just done is too recent: no second walk, an honest miss.
    expect(await index.resolve(late)).toBeUndefined();
    expect(await index.resolve('999999999999')).toBeUndefined();
    expect(index.stats()).toMatchObject({ walks: 1, misses: 2 });

    const eager = new CgroupIndex({ root: dir, rewalkIntervalMs: 0 });
    await eager.rewalk();
    mkdirSync(join(dir, 'kubepods.slice/kubepods-pod3.slice'));
    const [a, b] = await Promise.all([
      eager.resolve(ino(join(dir, 'kubepods.slice/kubepods-pod3.slice'))),
      eager.resolve(late),
    ]);
    expect([a, b]).toEqual([
      '/kubepods.slice/kubepods-pod3.slice',
      '/kubepods.slice/kubepods-pod2.slice',
    ]);
    // Two misses at once share one walk.
    expect(eager.stats().walks).toBe(2);
  });

  it('remembers an id that a later walk did not find as gone, and walks for it no more', async () => {
    const index = new CgroupIndex({ root: dir, rewalkIntervalMs: 0 });
    mkdirSync(join(dir, 'kubepods.slice/kubepods-pod4.slice'));
    const ended = ino(join(dir, 'kubepods.slice/kubepods-pod4.slice'));
    rmSync(join(dir, 'kubepods.slice/kubepods-pod4.slice'), { recursive: true });
    expect(await index.resolve(ended)).toBeUndefined();
    expect(await index.resolve(ended)).toBeUndefined();
    expect(index.stats()).toMatchObject({ walks: 1, misses: 2 });
  });

  it('keeps at most maxEntries, and never loses the id a caller waits for', async () => {
    const index = new CgroupIndex({ root: dir, maxEntries: 2 });
    expect(await index.resolve(ino(dir))).toBe('/');
    expect(index.stats().entries).toBe(2);
  });

  it('never rejects on an unreadable root; the failure shows in stats', async () => {
    const index = new CgroupIndex({ root: join(dir, 'gone'), rewalkIntervalMs: 0 });
    expect(await index.resolve('1')).toBeUndefined();
    expect(index.stats()).toMatchObject({ walks: 1, walkErrors: 1, misses: 1 });
    expect(index.stats().lastError).toMatch(/^cannot walk .*gone: ENOENT/);
  });
});

describe('attribution on this machine’s cgroup v2 with a real reset', () => {
  const POD_UID = '3f1c2a7e-9b4d-4e21-8c55-0a9d6b7e1f23';
  const CONTAINERD_ID = randomBytes(32).toString('hex');
  const CRIO_ID = randomBytes(32).toString('hex');
  const base = `/rstscope-test-${randomBytes(3).toString('hex')}`;
  const podSlice = `${base}/kubepods-burstable-pod${POD_UID.replaceAll('-', '_')}.slice`;
  const containerdScope = `${podSlice}/cri-containerd-${CONTAINERD_ID}.scope`;
  const crioContainer = `${podSlice}/crio-${CRIO_ID}.scope/container`;

  let mount: string;
  let cgroups: TestCgroup;
  let lab: Lab;
  let agent: AgentRunner;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    const found = localCgroupV2Root();
    if (!found) throw new Error('no cgroup v2 mount on this machine (see /proc/self/mountinfo)');
    mount = found;
    await checkCgroupV2Root(mount);
    cgroups = new TestCgroup(mount);
    cgroups.create(containerdScope);
    cgroups.create(crioContainer);
    lab = Lab.create();
    agent = await AgentRunner.start(lab.namespaces().flatMap((ns) => ['--netns', ns]));
  });

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    try {
      await agent?.stop();
    } finally {
      lab?.destroy();
      cgroups?.destroy();
    }
  });

  /**
   * tcp-actor.mjs whose process joins `cgroup` before Node starts, so that the
   * sockets it makes belong to that cgroup (the kernel ties a socket to its
   * creator's cgroup when the socket is made).
   */
  function actorIn(cgroup: string, host: LabHost, args: string[]) {
    // Into the cgroup first, then into the namespace with nsenter: `ip netns
    // exec` mounts a fresh /sys, which hides the cgroup mount from the shell.
    const argv = [
      ...['sh', '-c', cgroups.enterCommand(cgroup), 'sh'],
      ...['nsenter', `--net=/run/netns/${host.ns}`, 'node', ACTOR_SCRIPT, ...args],
    ];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    const out = new JsonLines<ActorEvent>(child.stdout);
    return {
      pid: child.pid!,
      waitFor: (event: string) => out.waitFor((e) => e.event === event, `actor event '${event}'`),
    };
  }

  it('a received reset’s cgroup id resolves to the containerd scope and its pod', async () => {
    const client = actorIn(containerdScope, lab.client, [
      'connect',
      '--host',
      lab.server.ipv4,
      '--port',
      '9',
    ]);
    expect((await client.waitFor('error')).code).toBe('ECONNREFUSED');
    const recv = await agent.waitFor(
      (e) => e.direction === 'received' && e.remote_port === 9 && e.remote_addr === lab.server.ipv4,
      'the client receiving the closed port’s reset',
    );

    expect(recv.cgroup_id).toBe(ino(join(mount, containerdScope)));
    const index = new CgroupIndex({ root: mount });
    const path = await index.resolve(recv.cgroup_id);
    expect(path).toBe(containerdScope);
    expect(parseCgroupPath(path!)).toEqual({
      runtime: 'containerd',
      podUid: POD_UID,
      containerId: CONTAINERD_ID,
      qos: 'burstable',
    });
  });

  it('a sent reset’s cgroup id resolves to the CRI-O container and its pod', async () => {
    const server = actorIn(crioContainer, lab.server, [
      'serve',
      '--port',
      '8101',
      '--mode',
      'unread',
      '--wait-ms',
      '200',
    ]);
    await server.waitFor('listening');
    const procs = readFileSync(join(mount, crioContainer, 'cgroup.procs'), 'utf8');
    expect(procs.split('\n')).toContain(String(server.pid));
    const client = Actor.connect(lab, lab.client, lab.server.ipv4, 8101);
    await client.waitFor('connected');
    client.send('send 100');
    expect((await client.waitFor('error')).code).toBe('ECONNRESET');
    const sent = await agent.waitFor(
      (e) => e.direction === 'sent' && e.local_port === 8101,
      'the server’s reset',
    );
    const recv = await agent.waitFor(
      (e) => e.direction === 'received' && e.remote_port === 8101,
      'the client receiving it',
    );

    const index = new CgroupIndex({ root: mount });
    expect(await index.resolve(sent.cgroup_id)).toBe(crioContainer);
    expect(parseCgroupPath(crioContainer)).toEqual({
      runtime: 'cri-o',
      podUid: POD_UID,
      containerId: CRIO_ID,
      qos: 'burstable',
    });
    // The client stayed in this test's own cgroup: no pod there.
    const clientPath = await index.resolve(recv.cgroup_id);
    expect(clientPath).toBe(readFileSync('/proc/self/cgroup', 'utf8').match(/^0::(.*)$/m)![1]);
    expect(parseCgroupPath(clientPath!).podUid).toBeUndefined();
  });
});
