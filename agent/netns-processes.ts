// A process in each network namespace, through which the namespace's /proc/PID/net
// files (its addresses, its MIB counters) are read without entering it: setns would
// need CAP_SYS_ADMIN, which the agent does not otherwise need.
//
// Finding a process by its namespace inode reads /proc/PID/ns/net, which the kernel
// allows only for processes the agent may ptrace: with the least capabilities
// (CAP_BPF, CAP_PERFMON) that is processes of its uid with no more capabilities
// than it. A namespace without such a process is not found (unknown, never empty).
import { readdirSync, statSync } from 'node:fs';

/**
 * One pass over /proc serves every lookup within this long: a heartbeat asks for
 * addresses and counters of the same namespaces one after the other, and a
 * namespace without a process would otherwise cost a pass for each.
 */
const RESCAN_AFTER_MS = 1_000;

export class NetnsProcesses {
  /** A process seen in each namespace: checked again before each use. */
  private readonly pidOf = new Map<number, string>();
  private scannedAt = -Infinity;

  constructor(private readonly proc = '/proc') {}

  /** A process in the namespace with this inode, looking again if the last one left. */
  pidIn(inode: number): string | undefined {
    if (!this.stillIn(inode)) this.scan();
    return this.stillIn(inode) ? this.pidOf.get(inode) : undefined;
  }

  /**
   * A process per namespace: for `inodes`, or for every namespace with a
   * readable process when undefined.
   */
  find(inodes: readonly number[] | undefined): Map<number, string> {
    const wanted = inodes ? new Set(inodes) : undefined;
    if (!wanted || [...wanted].some((inode) => !this.stillIn(inode))) this.scan();
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

  /** One pass over /proc, at most once a RESCAN_AFTER_MS: the agent's own namespace first. */
  private scan(): void {
    const now = performance.now();
    if (now - this.scannedAt < RESCAN_AFTER_MS) return;
    this.scannedAt = now;
    let pids: string[];
    try {
      pids = readdirSync(this.proc).filter((name) => /^\d+$/.test(name));
    } catch {
      return;
    }
    this.pidOf.clear();
    for (const pid of ['self', ...pids]) {
      const inode = this.netnsOf(pid);
      if (inode !== undefined && !this.pidOf.has(inode)) this.pidOf.set(inode, pid);
    }
  }
}
