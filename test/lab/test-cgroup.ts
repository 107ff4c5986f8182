// A real cgroup v2 subtree for a test, named like a pod's containers, under
// this machine's cgroup v2 mount. destroy() moves every process left inside
// back to the mount's root cgroup and removes the directories, deepest first;
// a subtree that a crashed test left behind is removed at process exit.
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const live = new Set<TestCgroup>();
process.on('exit', () => {
  for (const cgroup of live) cgroup.destroy();
});

export class TestCgroup {
  /** Cgroup directories, relative to the mount, in creation order. */
  private readonly made: string[] = [];

  constructor(readonly mount: string) {
    live.add(this);
  }

  /** Creates path (relative to the mount, with its parents) and returns its absolute directory. */
  create(path: string): string {
    let at = '';
    for (const part of path.split('/').filter(Boolean)) {
      at = `${at}/${part}`;
      if (this.made.includes(at)) continue;
      mkdirSync(join(this.mount, at));
      this.made.push(at);
    }
    return join(this.mount, at);
  }

  /** The line for `sh -c` that moves the shell itself into path before it execs the rest. */
  enterCommand(path: string): string {
    return `echo $$ > '${join(this.mount, path, 'cgroup.procs')}' && exec "$@"`;
  }

  destroy(): void {
    const rootProcs = join(this.mount, 'cgroup.procs');
    for (const path of this.made.splice(0).reverse()) {
      const dir = join(this.mount, path);
      try {
        for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
          if (!pid) continue;
          try {
            writeFileSync(rootProcs, pid);
          } catch {
            // exited meanwhile
          }
        }
        rmdirSync(dir);
      } catch {
        // already removed, or a process still exiting: nothing more to do here
      }
    }
    live.delete(this);
  }
}
