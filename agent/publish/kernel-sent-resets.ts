// The kernel's own count of the resets each covered namespace sent (TcpOutRsts),
// read for every heartbeat so the collector can count what no agent saw: resets
// sent while the agent was stopped, or after a killed agent's last heartbeat.
//
// /proc/PID/net/snmp shows the MIB of PID's namespace and needs no capability, so
// a namespace is read through any process in it (the agent's own first). Entering
// a namespace (setns) would reach namespaces without processes too, but needs
// CAP_SYS_ADMIN, which the agent does not otherwise need. Finding a process by
// its namespace inode reads /proc/PID/ns/net, which the kernel allows only for
// processes the agent may ptrace: with the least capabilities (CAP_BPF,
// CAP_PERFMON) that is processes of its uid with no more capabilities than it. A
// namespace without such a process is left out of the heartbeat (unknown, never
// zero). Received resets have no kernel counter at all.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import type { CountEntry } from '../loader-frames.js';

/** CountEntry.direction of a sent reset. */
const SENT = 1;

export interface NetnsSentCount {
  inode: number;
  kernelOutRsts: bigint;
  seenSent: bigint;
}

/** The Tcp OutRsts value of a /proc/net/snmp text, or undefined when it has none. */
export function tcpOutRsts(snmp: string): bigint | undefined {
  const lines = snmp.split('\n').filter((l) => l.startsWith('Tcp:'));
  if (lines.length < 2) return undefined;
  const names = lines[0]!.trim().split(/\s+/);
  const values = lines[1]!.trim().split(/\s+/);
  const at = names.indexOf('OutRsts');
  const value = at > 0 ? values[at] : undefined;
  return value !== undefined && /^\d+$/.test(value) ? BigInt(value) : undefined;
}

/** Sent resets per namespace inode in the loader's exact counters. */
export function seenSentByNetns(entries: readonly CountEntry[]): Map<number, bigint> {
  const seen = new Map<number, bigint>();
  for (const e of entries) {
    if (e.direction === SENT) seen.set(e.netns, (seen.get(e.netns) ?? 0n) + e.count);
  }
  return seen;
}

export class KernelSentResets {
  /** A process seen in each namespace last time: checked again before it is used. */
  private readonly pidOf = new Map<number, string>();

  /** inodes: the covered namespaces; undefined: every namespace with a readable process. */
  constructor(
    private readonly inodes: readonly number[] | undefined,
    private readonly proc = '/proc',
  ) {}

  /** One entry per namespace whose counter could be read, with what this run saw there. */
  read(seen: ReadonlyMap<number, bigint>): NetnsSentCount[] {
    const wanted = this.inodes ? new Set(this.inodes) : undefined;
    if (wanted && [...wanted].some((inode) => !this.stillIn(inode))) this.scan(wanted);
    if (!wanted) this.scan(undefined);
    const counts: NetnsSentCount[] = [];
    for (const inode of wanted ?? this.pidOf.keys()) {
      const pid = this.pidOf.get(inode);
      if (pid === undefined) continue;
      const out = this.outRstsOf(pid);
      // Read, then checked again: the process may have exited and its pid been reused.
      if (out === undefined || this.netnsOf(pid) !== inode) continue;
      counts.push({ inode, kernelOutRsts: out, seenSent: seen.get(inode) ?? 0n });
    }
    return counts.sort((a, b) => a.inode - b.inode);
  }

  private stillIn(inode: number): boolean {
    const pid = this.pidOf.get(inode);
    return pid !== undefined && this.netnsOf(pid) === inode;
  }

  /** Finds a process per namespace: the agent's own first, then the others in pid order. */
  private scan(wanted: Set<number> | undefined): void {
    this.pidOf.clear();
    let pids: string[];
    try {
      pids = readdirSync(this.proc).filter((name) => /^\d+$/.test(name));
    } catch {
      return;
    }
    for (const pid of ['self', ...pids]) {
      const inode = this.netnsOf(pid);
      if (inode === undefined || this.pidOf.has(inode)) continue;
      if (wanted && !wanted.has(inode)) continue;
      this.pidOf.set(inode, pid);
      if (wanted && this.pidOf.size === wanted.size) return;
    }
  }

  private netnsOf(pid: string): number | undefined {
    try {
      return statSync(`${this.proc}/${pid}/ns/net`).ino;
    } catch {
      return undefined; // gone, or not ours to look at (see the top of the file)
    }
  }

  private outRstsOf(pid: string): bigint | undefined {
    try {
      return tcpOutRsts(readFileSync(`${this.proc}/${pid}/net/snmp`, 'utf8'));
    } catch {
      return undefined;
    }
  }
}
