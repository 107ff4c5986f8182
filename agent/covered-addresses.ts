// The addresses an agent covers, for its heartbeats: the collector needs them to tell
// "the peer's stack sent no reset" (it is watched) from "nobody watches the peer".
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

interface IpAddrJson {
  addr_info?: { local?: string; scope?: string }[];
}

/**
 * Global-scope addresses of the given namespaces ('host' is the agent's own); a
 * namespace that vanished or cannot be entered contributes nothing.
 */
export async function coveredAddresses(netnsNames: string[]): Promise<string[]> {
  const lists = await Promise.all(netnsNames.map(addressesOf));
  return [...new Set(lists.flat())].sort();
}

async function addressesOf(netns: string): Promise<string[]> {
  const args = netns === 'host' ? ['-j', 'addr', 'show'] : ['-j', '-n', netns, 'addr', 'show'];
  try {
    const { stdout } = await run('ip', args, { timeout: 5_000 });
    const links = JSON.parse(stdout) as IpAddrJson[];
    return links.flatMap((link) =>
      (link.addr_info ?? []).filter((a) => a.scope === 'global' && a.local).map((a) => a.local!),
    );
  } catch {
    return [];
  }
}
