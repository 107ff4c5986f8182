// What /proc says about processes the benchmarks measure.
import { readFileSync, readdirSync } from 'node:fs';

/** USER_HZ: /proc/<pid>/stat counts CPU time in these ticks (100 on Linux). */
const CLK_TCK = 100;

/** A file under /proc/<pid>, or undefined once the process is gone. */
function procFile(pid: number, name: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${name}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds the processes have used so far (gone ones count 0). */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = procFile(pid, 'stat');
    if (!stat) continue;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return ticks / CLK_TCK;
}

/** The process and all its descendants, as they are now. */
export function processTree(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const children = tasks.flatMap((tid) =>
    (procFile(pid, `task/${tid}/children`) ?? '').split(' ').filter(Boolean).map(Number),
  );
  return [pid, ...children.flatMap(processTree)];
}

/** The sum of the processes' peak resident sets (VmHWM), in MiB. */
export function peakRssMiB(pids: number[]): number {
  let kib = 0;
  for (const pid of pids)
    kib += Number(/VmHWM:\s+(\d+)/.exec(procFile(pid, 'status') ?? '')?.[1] ?? 0);
  return kib / 1024;
}
