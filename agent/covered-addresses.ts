// The addresses an agent covers, for its heartbeats: the collector needs them to tell
// "the peer's stack sent no reset" (it is watched) from "nobody watches the peer".
//
// A namespace's addresses are read through a process in it: /proc/PID/net shows
// PID's namespace and needs no capability, so the agent works with CAP_BPF and
// CAP_PERFMON alone (in Kubernetes every pod namespace holds its pause process).
// `ip -n NAME` (which enters the namespace, needing CAP_SYS_ADMIN) is only the
// fallback for a named namespace without a process we may look at.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { NetnsProcesses } from './netns-processes.js';

const run = promisify(execFile);

export interface CoveredNetns {
  inode: number;
  /** 'host' for the agent's own; '' when `ip netns` does not name it. */
  name: string;
}

/**
 * Global-scope addresses of the given namespaces; a namespace that vanished or
 * cannot be read contributes nothing (and `unreadable` names it, for a log line).
 */
export async function coveredAddresses(
  namespaces: readonly CoveredNetns[],
  processes: NetnsProcesses,
): Promise<{ addresses: string[]; unreadable: CoveredNetns[] }> {
  const unreadable: CoveredNetns[] = [];
  const lists = await Promise.all(
    namespaces.map(async (ns) => {
      const found = await addressesOf(ns, processes);
      if (!found) unreadable.push(ns);
      return found ?? [];
    }),
  );
  return { addresses: [...new Set(lists.flat())].sort(), unreadable };
}

async function addressesOf(
  ns: CoveredNetns,
  processes: NetnsProcesses,
): Promise<string[] | undefined> {
  const pid = ns.name === 'host' ? 'self' : processes.pidIn(ns.inode);
  if (pid !== undefined) {
    try {
      const [fibTrie, ifInet6] = await Promise.all([
        readFile(`/proc/${pid}/net/fib_trie`, 'utf8'),
        readFile(`/proc/${pid}/net/if_inet6`, 'utf8').catch(() => ''), // IPv6 disabled
      ]);
      // Read, then checked again: the process may have left or its pid been reused.
      if (pid === 'self' || processes.netnsOf(pid) === ns.inode) {
        return [...localIpv4(fibTrie), ...globalIpv6(ifInet6)];
      }
    } catch {
      // gone meanwhile: try the name
    }
  }
  return ns.name && ns.name !== 'host' ? ipAddrShow(ns.name) : undefined;
}

/**
 * The namespace's own IPv4 addresses: fib_trie's "/32 host LOCAL" leaves (what
 * `ip addr` lists), without loopback. Each leaf is an address line ("|-- A")
 * followed by its routes.
 */
export function localIpv4(fibTrie: string): string[] {
  const found = new Set<string>();
  let address = '';
  for (const line of fibTrie.split('\n')) {
    const leaf = /^\s*\|-- (\d+\.\d+\.\d+\.\d+)$/.exec(line);
    if (leaf) address = leaf[1]!;
    else if (/^\s*\/32 host LOCAL$/.test(line) && address && !address.startsWith('127.')) {
      found.add(address);
    }
  }
  return [...found];
}

/** Global-scope (scope 00) IPv6 addresses of an if_inet6 text, in the usual form. */
export function globalIpv6(ifInet6: string): string[] {
  const found: string[] = [];
  for (const line of ifInet6.split('\n')) {
    const [hex, , , scope] = line.trim().split(/\s+/);
    if (!hex || hex.length !== 32 || scope !== '00') continue;
    const groups = hex.match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, ''));
    found.push(compressIpv6(groups));
  }
  return found;
}

/** RFC 5952: the longest run of two or more zero groups becomes "::". */
function compressIpv6(groups: string[]): string {
  let best = { at: -1, length: 1 };
  for (let at = 0; at < groups.length;) {
    let end = at;
    while (end < groups.length && groups[end] === '0') end += 1;
    if (end - at > best.length) best = { at, length: end - at };
    at = end === at ? at + 1 : end;
  }
  if (best.at < 0) return groups.join(':');
  const head = groups.slice(0, best.at).join(':');
  const tail = groups.slice(best.at + best.length).join(':');
  return `${head}::${tail}`;
}

async function ipAddrShow(name: string): Promise<string[] | undefined> {
  try {
    const { stdout } = await run('ip', ['-j', '-n', name, 'addr', 'show'], { timeout: 5_000 });
    const links = JSON.parse(stdout) as {
      addr_info?: { local?: string; scope?: string }[];
    }[];
    return links.flatMap((link) =>
      (link.addr_info ?? []).filter((a) => a.scope === 'global' && a.local).map((a) => a.local!),
    );
  } catch {
    return undefined; // entering a namespace needs CAP_SYS_ADMIN
  }
}
