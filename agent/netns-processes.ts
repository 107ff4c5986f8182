// A process in each network namespace, through which the namespace's /proc/PID/net
// files (its addresses, its MIB counters) are read without entering it: setns would
// need CAP_SYS_ADMIN, which the agent does not otherwise need.
//
// Finding a process by its namespace inode reads /proc/PID/ns/net, which the kernel
// allows only for processes the agent may ptrace: with the least capabilities
// (CAP_BPF, CAP_PERFMON) that is processes of its uid with no more capabilities
// than it. A namespace without such a process is not found (unknown, never empty).
import { readdirSync, statSync } from 'node:fs';

export class NetnsProcesses {
  /** A process seen in each namespace: checked again before each use. */
  private readonly pidOf = new Map<number, string>();

  constructor(private readonly proc = '/proc') {}

  /** A process in the namespace with this inode, looking again if the last one left. */
  pidIn(inode: number): string | undefined {
    if (!this.stillIn(inode)) this.scan(new Set([inode]));
    return this.pidOf.get(inode);
  }

  /**
   * A process per namespace: for `inodes`, or for every namespace with a
   * readable process when undefined.
   */
  find(inodes: readonly number[] | undefined): Map<number, string> {
    const wanted = inodes ? new Set(inodes) : undefined;
    if (!wanted || [...wanted].some((inode) => !this.stillIn(inode))) this.scan(wanted);
    const found = new Map<number, string>();
    for (const [inode, pid] of this.pidOf) if (!wanted || wanted.has(inode)) found.set(inode, pid);
    return found;
  }

  /** The namespace inode of a process, or undefined when it is gone or not ours to see. */
  netnsOf(pid: string): number | undefined {
    try {
      return statSync(`${this.proc}/${pid}/ns/net`).ino;
    } catch {
      return undefined;
    }
  }

  private stillIn(inode: number): boolean {
    const pid = this.pidOf.get(inode);
    return pid !== undefined && this.netnsOf(pid) === inode;
  }

  /** One pass over /proc: the agent's own namespace first, then in pid order. */
  private scan(wanted: Set<number> | undefined): void {
    if (!wanted) this.pidOf.clear();
    let pids: string[];
    try {
      pids = readdirSync(this.proc).filter((name) => /^\d+$/.test(name));
    } catch {
      return;
    }
    const missing = wanted && new Set([...wanted].filter((inode) => !this.stillIn(inode)));
    for (const inode of missing ?? []) this.pidOf.delete(inode);
    for (const pid of ['self', ...pids]) {
      const inode = this.netnsOf(pid);
      if (inode === undefined || this.pidOf.has(inode)) continue;
      if (missing && !missing.has(inode)) continue;
      this.pidOf.set(inode, pid);
      missing?.delete(inode);
      if (missing && missing.size === 0) return;
    }
  }
}
