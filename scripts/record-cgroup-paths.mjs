#!/usr/bin/env node
// Records the cgroup paths a real container runtime gives a Kubernetes pod, for
// test/cgroup-path-recorded.test.ts: starts Debian's containerd (CRI plugin) on a
// private socket and state dir, drives it over CRI the way the kubelet does (a pod
// sandbox whose cgroup_parent is the kubelet's pod cgroup, then a container in it),
// reads /proc/<pid>/cgroup of the sandbox and of the container as this host sees
// them, stops and removes everything, and writes
// test/golden/cgroups/recorded-containerd-<driver>.json with its provenance.
//
//   sudo node scripts/record-cgroup-paths.mjs [cgroupfs|systemd]   (default: cgroupfs)
//
// Installs containerd, runc and busybox-static with apt when missing (idempotent).
// No registry: the sandbox ("pause") and container images are Debian's static
// busybox, imported with `ctr images import`. No CNI: the pods use the node's
// network (hostNetwork), which does not change their cgroups. The systemd driver
// needs systemd (runc asks it over D-Bus for the slices and scopes); where it is not
// PID 1, Debian's systemd is booted in namespaces of its own for the recording
// (record-cgroup-paths.systemd.mjs). Not part of the test suite: run on purpose.
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { criClient } from './record-cgroup-paths.cri-client.mjs';
import { buildBusyboxImage } from './record-cgroup-paths.image.mjs';
import { startSystemdNamespace } from './record-cgroup-paths.systemd.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const PAUSE_IMAGE = 'localhost/rstscope-record/pause:busybox';
const APP_IMAGE = 'localhost/rstscope-record/app:busybox';
const QOS_CLASSES = ['burstable', 'besteffort', 'guaranteed'];

class RecordError extends Error {
  name = 'RecordError';
}

const driver = process.argv[2] ?? 'cgroupfs';
if (driver !== 'cgroupfs' && driver !== 'systemd') {
  fail(`unknown cgroup driver "${driver}": use cgroupfs or systemd`);
}
if (process.getuid?.() !== 0) fail('needs root: it starts containerd and creates cgroups');

installMissing(['containerd', 'runc', 'busybox-static']);

const work = mkdtempSync('/tmp/rstscope-record-');
const socket = join(work, 'containerd.sock');
const cgroupMounts = cgroupMountPoints();
const before = new Set(
  cgroupMounts
    .flatMap((m) => ['kubepods', 'kubepods.slice'].map((d) => join(m, d)))
    .filter(existsSync),
);
let containerd;
let cri;
let systemd;
try {
  if (driver === 'systemd' && comm(1) !== 'systemd') {
    systemd = await startSystemdNamespace(work, cgroupMounts);
  }
  writeFileSync(join(work, 'config.toml'), containerdConfig(work, driver));
  const args = ['--config', join(work, 'config.toml')];
  const stdio = ['ignore', 'ignore', 'pipe'];
  containerd = systemd
    ? systemd.spawnInside('containerd', args, { stdio })
    : spawn('containerd', args, { stdio });
  const log = [];
  containerd.stderr.on('data', (chunk) => log.push(chunk));
  await waitFor(
    () => existsSync(socket),
    'containerd socket',
    () => Buffer.concat(log).toString(),
  );

  const image = buildBusyboxImage(
    join(work, 'image'),
    [PAUSE_IMAGE, APP_IMAGE],
    ['/bin/sleep', '2147483647'],
  );
  execFileSync('ctr', ['--address', socket, '--namespace', 'k8s.io', 'images', 'import', image], {
    stdio: 'ignore',
  });

  cri = await criClient(socket);
  const version = await cri.call('Version', { version: 'v1' });
  const pods = [];
  for (const qos of QOS_CLASSES) pods.push(await recordPod(cri, qos, driver, work, systemd));

  const out = join(repo, 'test', 'golden', 'cgroups', `recorded-containerd-${driver}.json`);
  writeFileSync(out, `${JSON.stringify(recording(version, driver, pods, systemd), null, 2)}\n`);
  process.stdout.write(`wrote ${out}: ${pods.length} pods\n`);
} catch (err) {
  process.exitCode = 1;
  process.stderr.write(`record-cgroup-paths: ${err.message}\n`);
} finally {
  cri?.close();
  await stopContainerd(containerd, work);
  await systemd?.stop();
  removeKubeletCgroups(cgroupMounts, before);
  rmSync(work, { recursive: true, force: true });
}

/** One pod of class `qos` with one container: its cgroups as the host sees them. */
async function recordPod(cri, qos, driver, work, systemd) {
  const uid = randomUUID();
  const cgroupParent = kubeletPodCgroup(qos, uid, driver);
  const namespaces = { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' };
  const name = `record-${qos}`;
  const sandboxConfig = {
    metadata: { name, uid, namespace: 'default', attempt: 0 },
    logDirectory: join(work, 'pods', uid),
    labels: {
      'io.kubernetes.pod.name': name,
      'io.kubernetes.pod.namespace': 'default',
      'io.kubernetes.pod.uid': uid,
    },
    linux: { cgroupParent, securityContext: { namespaceOptions: namespaces } },
  };
  const { podSandboxId } = await cri.call('RunPodSandbox', { config: sandboxConfig });
  try {
    const sandboxPid = infoPid(await cri.call('PodSandboxStatus', { podSandboxId, verbose: true }));
    const { containerId } = await cri.call('CreateContainer', {
      podSandboxId,
      sandboxConfig,
      config: {
        metadata: { name: 'app', attempt: 0 },
        image: { image: APP_IMAGE },
        command: ['/bin/sleep', '2147483647'],
        labels: { 'io.kubernetes.container.name': 'app' },
        logPath: 'app/0.log',
        linux: { securityContext: { namespaceOptions: namespaces } },
      },
    });
    await cri.call('StartContainer', { containerId });
    const containerPid = infoPid(await cri.call('ContainerStatus', { containerId, verbose: true }));
    const recorded = {
      qos,
      podUid: uid,
      cgroupParent,
      sandbox: { id: podSandboxId, ...procCgroup(sandboxPid, systemd) },
      containers: [{ name: 'app', id: containerId, ...procCgroup(containerPid, systemd) }],
    };
    await cri.call('StopContainer', { containerId, timeout: 1 });
    await cri.call('RemoveContainer', { containerId });
    return recorded;
  } finally {
    await cri.call('StopPodSandbox', { podSandboxId });
    await cri.call('RemovePodSandbox', { podSandboxId });
  }
}

/**
 * The pod cgroup the kubelet names and passes as cgroup_parent
 * (pkg/kubelet/cm: pod_container_manager_linux.go, cgroup_manager_linux.go):
 * cgroupfs takes the path, systemd the leaf slice (it expands the '-' nesting itself).
 */
function kubeletPodCgroup(qos, uid, driver) {
  if (driver === 'cgroupfs') {
    return qos === 'guaranteed' ? `/kubepods/pod${uid}` : `/kubepods/${qos}/pod${uid}`;
  }
  const escaped = uid.replaceAll('-', '_');
  return qos === 'guaranteed'
    ? `kubepods-pod${escaped}.slice`
    : `kubepods-${qos}-pod${escaped}.slice`;
}

/**
 * /proc/<pid>/cgroup as the host reads it: the cgroup v2 path (what the agent
 * sees) and every line. With systemd in namespaces, `pid` is the runtime's (inside)
 * and the v2 path is also read from inside, as a node with systemd as PID 1 shows it.
 */
function procCgroup(pid, systemd) {
  const hostPid = systemd ? systemd.hostPid(pid) : pid;
  const lines = readFileSync(`/proc/${hostPid}/cgroup`, 'utf8').trim().split('\n');
  const recorded = { pid: hostPid, cgroup: v2Path(lines, hostPid), procCgroup: lines };
  if (systemd) {
    const inside = systemd.cgroupInside(hostPid).trim().split('\n');
    recorded.cgroupInNamespace = v2Path(inside, hostPid);
  }
  return recorded;
}

function v2Path(lines, pid) {
  const v2 = lines.find((line) => line.startsWith('0::'));
  if (!v2) throw new RecordError(`/proc/${pid}/cgroup has no cgroup v2 line`);
  return v2.slice('0::'.length);
}

function infoPid(reply) {
  const pid = JSON.parse(reply.info?.info ?? '{}').pid;
  if (!Number.isInteger(pid) || pid <= 0)
    throw new RecordError('the runtime did not report a pid (verbose info)');
  return pid;
}

function recording(version, driver, pods, systemd) {
  return {
    about:
      'Recorded, not written by hand: cgroup paths that a real containerd (CRI plugin, runc) gave pods ' +
      'started over CRI as the kubelet starts them, read from /proc/<pid>/cgroup on the host. Made by ' +
      'scripts/record-cgroup-paths.mjs; test/cgroup-path-recorded.test.ts checks parseCgroupPath against it.',
    provenance: {
      runtime: version.runtimeName,
      runtimeVersion: version.runtimeVersion,
      criApiVersion: version.runtimeApiVersion,
      ociRuntime: firstLine(execFileSync('runc', ['--version'], { encoding: 'utf8' })),
      debianPackages: packageVersions(['containerd', 'runc', 'busybox-static']),
      cgroupDriver: driver,
      cgroupMode: cgroupMode(),
      kernel: release(),
      os: `Debian ${readFileSync('/etc/debian_version', 'utf8').trim()}`,
      recordedAt: new Date().toISOString(),
      setup: [
        'containerd on a private socket and state dir, CRI runtime.v1, runc v2 shim',
        'pods on the node network (NamespaceMode NODE): no CNI is installed here; network does not change cgroups',
        'restrict_oom_score_adj = true: this machine withholds CAP_SYS_RESOURCE, so the sandbox OOM score of -998 cannot be set',
        'images: Debian busybox-static imported with ctr (no registry reachable)',
        'no resource limits in the CRI requests: the kubelet would send them; they do not change the paths',
        ...(systemd
          ? [
              `${systemd.version} booted as PID 1 of its own pid, mount and cgroup namespaces, rooted at ` +
                `/${systemd.rootName} in every hierarchy (systemd is not PID 1 on this machine), with an empty ` +
                'default target; containerd ran inside them. "cgroup" is the path as the host sees it, ' +
                '"cgroupInNamespace" as read inside, which is what a node with systemd as PID 1 shows',
            ]
          : []),
      ],
    },
    pods,
  };
}

function cgroupMode() {
  const types = new Set(
    readMounts()
      .filter((m) => m.type.startsWith('cgroup'))
      .map((m) => m.type),
  );
  if (types.has('cgroup') && types.has('cgroup2'))
    return 'hybrid: v1 controllers, v2 unified hierarchy beside them';
  return types.has('cgroup2') ? 'unified (v2 only)' : 'legacy (v1 only)';
}

function containerdConfig(work, driver) {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${join(work, 'root')}"
state = "${join(work, 'state')}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "${join(work, 'containerd.sock')}"
[ttrpc]
  address = "${join(work, 'containerd.sock.ttrpc')}"
[${cri}]
  sandbox_image = "${PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [${cri}.cni]
    bin_dir = "${join(work, 'cni', 'bin')}"
    conf_dir = "${join(work, 'cni', 'conf')}"
  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        SystemdCgroup = ${driver === 'systemd'}
        Root = "${join(work, 'runc')}"
`;
}

/** Stops containerd and any shim it left (found by our private address), then unmounts what is left under `work`. */
async function stopContainerd(child, work) {
  const shims = processesWith(work).filter((pid) => pid !== child?.pid);
  for (const pid of [child?.pid, ...shims]) {
    if (pid) signal(pid, 'SIGTERM');
  }
  await waitFor(
    () => [child?.pid, ...shims].every((pid) => !pid || !alive(pid)),
    'containerd to stop',
  ).catch(() => {
    for (const pid of [child?.pid, ...shims]) if (pid && alive(pid)) signal(pid, 'SIGKILL');
  });
  for (const m of readMounts()
    .filter((m) => m.target.startsWith(`${work}/`))
    .reverse()) {
    execFileSync('umount', ['--lazy', m.target]);
  }
}

/** Removes the kubelet-style cgroups the pods used, in every hierarchy, unless they were there before. */
function removeKubeletCgroups(mounts, before) {
  for (const mount of mounts) {
    for (const top of ['kubepods', 'kubepods.slice']) {
      if (before.has(join(mount, top)) || !existsSync(join(mount, top))) continue;
      removeTree(join(mount, top));
    }
  }
}

function removeTree(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeTree(join(dir, entry.name));
  }
  rmdirSync(dir);
}

function cgroupMountPoints() {
  return readMounts()
    .filter((m) => m.type === 'cgroup' || m.type === 'cgroup2')
    .map((m) => m.target);
}

function readMounts() {
  return readFileSync('/proc/self/mounts', 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [, target, type] = line.split(' ');
      return { target: target.replaceAll('\\040', ' '), type };
    });
}

function processesWith(text) {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

async function waitFor(ready, what, detail = () => '') {
  for (let i = 0; i < 100; i++) {
    if (ready()) return;
    await sleep(100);
  }
  throw new RecordError(`timed out waiting for ${what} ${detail()}`.trim());
}

function installMissing(packages) {
  const missing = packages.filter((p) => !packageVersions([p])[p]);
  if (missing.length === 0) return;
  process.stdout.write(`installing ${missing.join(' ')}\n`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

function packageVersions(packages) {
  const versions = {};
  for (const p of packages) {
    try {
      const out = execFileSync('dpkg-query', ['-W', '-f=${Status}\t${Version}', p], {
        encoding: 'utf8',
      });
      const [status, version] = out.split('\t');
      if (status === 'install ok installed') versions[p] = version;
    } catch {
      // not installed
    }
  }
  return versions;
}

function comm(pid) {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

function firstLine(text) {
  return text.split('\n')[0];
}

function fail(message) {
  process.stderr.write(`record-cgroup-paths: ${message}\n`);
  process.exit(2);
}
