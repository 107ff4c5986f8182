// Network namespaces named on the command line: NAME (ip netns), PATH or INODE.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AgentConfigError } from './errors.js';

const IP_NETNS_DIR = '/run/netns';

export function resolveNetns(spec: string): number {
  if (/^\d+$/.test(spec)) return Number(spec);
  const path = spec.includes('/') ? spec : join(IP_NETNS_DIR, spec);
  try {
    return statSync(path).ino;
  } catch {
    throw new AgentConfigError(
      `--netns ${spec}: no such network namespace (give a name from 'ip netns list', a path such as /proc/PID/ns/net, or an inode number)`,
    );
  }
}

/** Inode → name for the namespaces `ip netns` knows, plus the agent's own ('host'). */
export function netnsNames(): Map<number, string> {
  const names = new Map<number, string>();
  try {
    names.set(statSync('/proc/self/ns/net').ino, 'host');
  } catch {
    // not readable without privileges: the inode alone is shown
  }
  for (const name of listNamedNetns()) {
    try {
      names.set(statSync(join(IP_NETNS_DIR, name)).ino, name);
    } catch {
      // raced with `ip netns del`
    }
  }
  return names;
}

function listNamedNetns(): string[] {
  try {
    return readdirSync(IP_NETNS_DIR);
  } catch {
    return []; // no namespace was ever named on this host
  }
}
