// Where the cgroup v2 hierarchy is mounted. On a pure cgroup v2 host that is
// /sys/fs/cgroup; hosts in systemd's hybrid mode mount it at
// /sys/fs/cgroup/unified beside the v1 controllers; in a DaemonSet it is the
// host's hierarchy mounted read-only wherever the chart puts it, because the
// container's own /sys/fs/cgroup shows only its private cgroup namespace.
import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { CgroupMountError } from './errors.js';

export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';

// statfs(2) f_type of cgroup2 (linux/magic.h).
const CGROUP2_SUPER_MAGIC = 0x63677270;

/** Mount points of cgroup2 file systems in /proc/<pid>/mountinfo text, in order. */
export function cgroupV2MountPoints(mountinfo: string): string[] {
  const points: string[] = [];
  for (const line of mountinfo.split('\n')) {
    // Fields: id parent major:minor root mount-point options [optional...] - type source super-options
    const [before, after] = line.split(' - ');
    if (!after?.startsWith('cgroup2 ')) continue;
    const mountPoint = before?.split(' ')[4];
    // The kernel escapes space, tab, newline and backslash as octal.
    if (mountPoint) {
      points.push(
        mountPoint.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
      );
    }
  }
  return points;
}

/** This process's cgroup v2 mount: DEFAULT_CGROUP_ROOT when it is one, else the first found. */
export function localCgroupV2Root(): string | undefined {
  const points = cgroupV2MountPoints(readFileSync('/proc/self/mountinfo', 'utf8'));
  return points.includes(DEFAULT_CGROUP_ROOT) ? DEFAULT_CGROUP_ROOT : points[0];
}

/** Resolves when root is a cgroup v2 mount; otherwise a CgroupMountError that says what to mount. */
export async function checkCgroupV2Root(root: string): Promise<void> {
  let type: number;
  try {
    type = (await statfs(root)).type;
  } catch (err) {
    throw new CgroupMountError(
      `cgroup root ${root} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); mount the host's cgroup v2 hierarchy there read-only or set the cgroup root to where it is`,
      { cause: err },
    );
  }
  if (type !== CGROUP2_SUPER_MAGIC) {
    throw new CgroupMountError(
      `cgroup root ${root} is not a cgroup v2 mount (statfs type 0x${type.toString(16)}); on a hybrid host use /sys/fs/cgroup/unified, in a pod mount the host's /sys/fs/cgroup`,
    );
  }
}
