// The kernel's own count of the resets each covered namespace sent (TcpOutRsts),
// read for every heartbeat so the collector can count what no agent saw: resets
// sent while the agent was stopped, or after a killed agent's last heartbeat.
//
// /proc/PID/net/snmp shows the MIB of PID's namespace and needs no capability, so
// a namespace is read through any process in it (NetnsProcesses: the agent's own
// first; why not setns, and which processes it may see, is told there). A named
// namespace without such a process is entered for one read if the agent may
// (CAP_SYS_ADMIN); otherwise it is left out of the heartbeat (unknown, never
// zero). With every namespace covered, the namespaces read are those with a
// process the agent may see, and the named ones. Received resets have no kernel
// counter at all.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { CoveredNetns } from '../covered-addresses.js';
import type { CountEntry } from '../loader-frames.js';
import type { NetnsProcesses } from '../netns-processes.js';

const run = promisify(execFile);

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
  /**
   * covered: the covered namespaces (name '' when `ip netns` does not name it);
   * all: every namespace with a readable process besides them.
   */
  constructor(
    private readonly covered: readonly CoveredNetns[],
    private readonly all: boolean,
    private readonly processes: NetnsProcesses,
    private readonly proc = '/proc',
  ) {}

  /** One entry per namespace whose counter could be read, with what this run saw there. */
  async read(seen: ReadonlyMap<number, bigint>): Promise<NetnsSentCount[]> {
    const pids = this.processes.find(this.all ? undefined : this.covered.map((n) => n.inode));
    const counts = new Map<number, bigint>();
    for (const [inode, pid] of pids) {
      const out = this.outRstsOf(pid);
      // Read, then checked again: the process may have exited and its pid been reused.
      if (out !== undefined && (pid === 'self' || this.processes.netnsOf(pid) === inode)) {
        counts.set(inode, out);
      }
    }
    for (const { inode, name } of this.covered) {
      if (counts.has(inode) || !name || name === 'host') continue;
      const out = await outRstsByName(name);
      if (out !== undefined) counts.set(inode, out);
    }
    return [...counts]
      .map(([inode, out]) => ({ inode, kernelOutRsts: out, seenSent: seen.get(inode) ?? 0n }))
      .sort((a, b) => a.inode - b.inode);
  }

  private outRstsOf(pid: string): bigint | undefined {
    try {
      return tcpOutRsts(readFileSync(`${this.proc}/${pid}/net/snmp`, 'utf8'));
    } catch {
      return undefined;
    }
  }
}

/**
 * A named namespace without a process we may see (a lab's, or one made by `ip
 * netns add` for a service): entered for one read. Needs CAP_SYS_ADMIN; without it
 * the namespace is left out.
 */
async function outRstsByName(name: string): Promise<bigint | undefined> {
  try {
    const { stdout } = await run('ip', ['netns', 'exec', name, 'cat', '/proc/net/snmp'], {
      timeout: 5_000,
    });
    return tcpOutRsts(stdout);
  } catch {
    return undefined;
  }
}
