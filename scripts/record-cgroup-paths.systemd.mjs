// systemd for scripts/record-cgroup-paths.mjs on a machine where it is not PID 1:
// the systemd cgroup driver needs it (runc asks it over D-Bus for the pod slices and
// the container scopes). It boots Debian's systemd as PID 1 of new pid, mount and
// cgroup namespaces rooted at a cgroup of our own in every hierarchy, with a private
// /run and an empty default target, so it starts nothing but itself and touches no
// cgroup outside that root. Inside, paths read as on a node (/kubepods.slice/...);
// the host sees them below the root (/<root>/kubepods.slice/...). Both are recorded.
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export class SystemdNamespaceError extends Error {
  name = 'SystemdNamespaceError';
}

/** Boots systemd; `cgroupMounts`: every cgroup hierarchy's mount point, v1 and v2. */
export async function startSystemdNamespace(work, cgroupMounts) {
  const rootName = `rstscope-record-${process.pid}`;
  const own = ownCgroups();
  const roots = cgroupMounts.map((mount) =>
    join(mount, own.get(hierarchyKey(mount)) ?? '/', rootName),
  );
  for (const dir of roots) mkdirSync(dir);

  const inner = join(work, 'systemd-init.sh');
  writeFileSync(inner, innerScript(cgroupMounts), { mode: 0o755 });
  const join_ = roots.map((dir) => `echo $$ > '${dir}/cgroup.procs'`).join('; ');
  const outer = spawn(
    'sh',
    [
      '-c',
      `${join_}; exec unshare --pid --fork --mount --cgroup --propagation private --mount-proc '${inner}'`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const log = [];
  outer.stderr.on('data', (chunk) => log.push(chunk));

  let pid;
  for (let i = 0; i < 100 && !pid; i++) {
    await sleep(100);
    pid = childrenOf(outer.pid).find((p) => comm(p) === 'systemd');
  }
  const ready = () => {
    try {
      execFileSync('nsenter', ['-t', String(pid), '--mount', 'test', '-S', '/run/systemd/private']);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 100 && pid && !ready(); i++) await sleep(100);
  if (!pid || !ready()) {
    stopNamespace(outer.pid, undefined);
    removeRoots(roots);
    throw new SystemdNamespaceError(
      `systemd did not start: ${Buffer.concat(log).toString().trim()}`,
    );
  }

  return {
    rootName,
    version: firstLine(execFileSync('/lib/systemd/systemd', ['--version'], { encoding: 'utf8' })),
    /** Spawns a command inside systemd's namespaces (same pids, mounts and cgroup root). */
    spawnInside: (command, args, options) =>
      spawn(
        'nsenter',
        ['-t', String(pid), '--pid', '--mount', '--cgroup', command, ...args],
        options,
      ),
    /** The host pid of a process the runtime reported by its pid inside the namespace. */
    hostPid: (nsPid) => hostPidOf(pid, nsPid),
    /** /proc/<hostPid>/cgroup as read from inside systemd's cgroup namespace. */
    cgroupInside: (hostPid) =>
      execFileSync('nsenter', ['-t', String(pid), '--cgroup', 'cat', `/proc/${hostPid}/cgroup`], {
        encoding: 'utf8',
      }),
    stop: async () => {
      stopNamespace(outer.pid, pid);
      for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
      // systemd's cgroups empty once its pid namespace is gone; give the kernel a moment.
      for (let i = 0; i < 50; i++) {
        if (removeRoots(roots)) return;
        await sleep(100);
      }
      throw new SystemdNamespaceError(`could not remove ${roots.filter(existsSync).join(', ')}`);
    },
  };
}

// Remounts the cgroup hierarchies so they show the namespace's root, as on a node,
// gives systemd its own /run, and boots it into an empty target.
function innerScript(cgroupMounts) {
  const lines = [
    '#!/bin/sh',
    'set -e',
    'mount -t tmpfs tmpfs /run',
    'mount -t tmpfs tmpfs /sys/fs/cgroup',
  ];
  for (const mount of cgroupMounts) {
    const name = mount.slice('/sys/fs/cgroup/'.length);
    const { type, options } = mountOf(mount);
    lines.push(`mkdir -p '${mount}'`);
    lines.push(
      type === 'cgroup2'
        ? `mount -t cgroup2 cgroup2 '${mount}'`
        : `mount -t cgroup -o '${v1Options(options, name)}' cgroup '${mount}'`,
    );
  }
  lines.push(
    'mkdir -p /run/systemd/system',
    "printf '[Unit]\\nDescription=rstscope cgroup recording\\nDefaultDependencies=no\\n' > /run/systemd/system/rstscope-record.target",
    'export container=rstscope-record',
    'exec /lib/systemd/systemd --unit=rstscope-record.target --log-target=console --log-level=warning',
  );
  return `${lines.join('\n')}\n`;
}

// The hierarchy's own options (controllers or name=); a named one with no
// controllers needs 'none' so the kernel binds nothing else to it.
function v1Options(options, name) {
  const own = options.filter(
    (o) => !['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec'].includes(o),
  );
  if (own.length === 0) return name;
  return own.every((o) => o.startsWith('name=')) ? ['none', ...own].join(',') : own.join(',');
}

function stopNamespace(outerPid, systemdPid) {
  // SIGKILL to a pid namespace's init ends every process in it; its mounts go with it.
  for (const pid of [systemdPid, outerPid]) {
    try {
      if (pid) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Removes each root and whatever systemd left below it; true when all are gone. */
function removeRoots(roots) {
  let done = true;
  for (const root of roots) {
    if (!existsSync(root)) continue;
    try {
      removeTree(root);
    } catch {
      done = false;
    }
  }
  return done;
}

function removeTree(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeTree(join(dir, entry.name));
  }
  rmdirSync(dir);
}

/** This process's cgroup per hierarchy, keyed by the controllers (or name=) the line names. */
function ownCgroups() {
  const own = new Map();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':');
    own.set(controllers === '' ? 'cgroup2' : controllers, path);
  }
  return own;
}

function hierarchyKey(mount) {
  const { type, options } = mountOf(mount);
  if (type === 'cgroup2') return 'cgroup2';
  const named = options.find((o) => o.startsWith('name='));
  if (named) return named;
  return v1Options(options, '');
}

function mountOf(target) {
  const line = readFileSync('/proc/self/mounts', 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .find((fields) => fields[1] === target && fields[2].startsWith('cgroup'));
  if (!line) throw new SystemdNamespaceError(`${target} is not a cgroup mount`);
  return { type: line[2], options: line[3].split(',') };
}

function hostPidOf(systemdPid, nsPid) {
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    const nspid = statusField(name, 'NSpid')?.split(/\s+/).map(Number);
    if (nspid?.[1] === nsPid && descendsFrom(Number(name), systemdPid)) return Number(name);
  }
  throw new SystemdNamespaceError(`no host process for pid ${nsPid} in systemd's namespace`);
}

function descendsFrom(pid, ancestor) {
  for (let p = pid; p > 1; p = Number(statusField(String(p), 'PPid') ?? 0)) {
    if (p === ancestor) return true;
  }
  return false;
}

function childrenOf(parent) {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((pid) => Number(statusField(String(pid), 'PPid')) === parent);
}

function statusField(pid, field) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim();
  } catch {
    return undefined;
  }
}

function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function firstLine(text) {
  return text.split('\n')[0];
}
