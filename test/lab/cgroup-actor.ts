// tcp-actor.mjs whose process joins a test cgroup before Node starts, so that
// the sockets it makes belong to that cgroup (the kernel ties a socket to its
// creator's cgroup when the socket is made).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { ACTOR_SCRIPT } from './actor.js';
import type { ActorEvent } from './actor.js';
import { JsonLines } from './json-lines.js';
import type { LabHost } from './lab.js';
import type { TestCgroup } from './test-cgroup.js';

export interface CgroupActor {
  child: ChildProcess;
  waitFor(event: string): Promise<ActorEvent>;
}

/** Spawns the actor with `args` in `cgroup` (a path under cgroups' mount) and in host's namespace. */
export function actorInCgroup(
  cgroups: TestCgroup,
  cgroup: string,
  host: LabHost,
  args: string[],
): CgroupActor {
  // Into the cgroup first, then into the namespace with nsenter: `ip netns
  // exec` mounts a fresh /sys, which hides the cgroup mount from the shell.
  const argv = [
    ...['sh', '-c', cgroups.enterCommand(cgroup), 'sh'],
    ...['nsenter', `--net=/run/netns/${host.ns}`, 'node', ACTOR_SCRIPT, ...args],
  ];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  const out = new JsonLines<ActorEvent>(child.stdout!);
  return {
    child,
    waitFor: (event) => out.waitFor((e) => e.event === event, `actor event '${event}'`),
  };
}
