// The capabilities the agent needs, checked before its loader starts so that a
// missing one gets one line naming it and the fix, instead of an EPERM from
// bpf() followed by libbpf's advice to raise RLIMIT_MEMLOCK (wrong here: since
// Linux 5.11 BPF memory is charged to the cgroup, and the loader runs under a
// memlock limit of 0).
//
// CAP_BPF and CAP_PERFMON are all it needs, found by running it with fewer
// (test/agent-capabilities.test.ts). Everything else it does needs none: the
// programs attach to tp_btf through bpf() links (no perf_event_open, no
// tracefs); --netns by name is a stat() of /run/netns; netns names, the
// cgroup v2 tree, BTF and the boot id are world-readable; the Kubernetes
// token and NATS credentials are files its uid can read. The one exception is entering another network
// namespace to list its addresses for the heartbeats (setns needs
// CAP_SYS_ADMIN): without it those addresses are missing, see docs/agent.md.
import { readFileSync, statSync } from 'node:fs';
import { MissingCapabilityError } from './errors.js';

interface RequiredCapability {
  bit: bigint;
  name: string;
  why: string;
}

export const REQUIRED_CAPABILITIES: readonly RequiredCapability[] = [
  { bit: 39n, name: 'CAP_BPF', why: 'CAP_BPF creates the BPF maps and programs' },
  { bit: 38n, name: 'CAP_PERFMON', why: 'CAP_PERFMON lets tracing programs read kernel memory' },
];
const CAP_SYS_ADMIN = 21n;

/**
 * The inode of the kernel's initial user namespace, fixed by the kernel
 * (PROC_USER_INIT_INO in include/linux/proc_ns.h). bpf() checks capabilities
 * against that namespace only, so capabilities held in any other count for nothing.
 */
export const INIT_USER_NS_INODE = 0xeffffffd;

const HOW_TO_GRANT =
  'run as root, or grant CAP_BPF and CAP_PERFMON (Kubernetes: securityContext.capabilities.add [BPF, PERFMON], as the Helm chart does; systemd: AmbientCapabilities=CAP_BPF CAP_PERFMON)';

export function effectiveCapabilities(statusText: string): bigint {
  const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText);
  return match ? BigInt(`0x${match[1]}`) : 0n;
}

/** Names of the required capabilities that the set lacks. */
export function missingCapabilities(effective: bigint): string[] {
  return missingRequired(effective).map((c) => c.name);
}

function missingRequired(effective: bigint): RequiredCapability[] {
  // Before Linux 5.8 (no CAP_BPF) CAP_SYS_ADMIN covered everything, and it still does.
  if (effective & (1n << CAP_SYS_ADMIN)) return [];
  return REQUIRED_CAPABILITIES.filter((c) => !(effective & (1n << c.bit)));
}

/** One line saying why the agent cannot load its programs, or undefined when it can. */
export function capabilityProblem(effective: bigint, userNsInode: number): string | undefined {
  if (userNsInode !== INIT_USER_NS_INODE) {
    // A rootless container or a pod with hostUsers: false shows every capability
    // in CapEff, and bpf() still answers EPERM.
    return "runs in a user namespace (a rootless container, or a pod with hostUsers: false), whose capabilities do not count for BPF: run it in the host's user namespace with CAP_BPF and CAP_PERFMON";
  }
  const missing = missingRequired(effective);
  if (!missing.length) return undefined;
  return `missing capabilities ${missing.map((c) => c.name).join(', ')}: ${HOW_TO_GRANT}; ${missing.map((c) => c.why).join(', ')}`;
}

export function assertCapabilities(): void {
  const problem = capabilityProblem(
    effectiveCapabilities(readFileSync('/proc/self/status', 'utf8')),
    userNamespaceInode(),
  );
  if (problem) throw new MissingCapabilityError(problem);
}

function userNamespaceInode(): number {
  try {
    return statSync('/proc/self/ns/user').ino;
  } catch {
    return INIT_USER_NS_INODE; // a kernel without user namespaces has only the initial one
  }
}
