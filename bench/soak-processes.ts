// The soak's view of the pipeline it runs: the processes this bench started,
// known by their command lines (the sustained run starts them and keeps their
// handles to itself), and their resident memory and CPU every few seconds from
// the storm's first packet on.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { cpuSeconds, processTree } from './proc-stats.js';

/** What the soak watches: the agent's Node process and its loader, the collector, nats-server. */
export const ROLES = ['agent', 'loader', 'collector', 'nats'] as const;
export type Role = (typeof ROLES)[number];

/** One look at the pipeline, `atS` seconds after the storm began. */
export interface ProcessSample {
  atS: number;
  /** Resident set now (VmRSS), MiB; absent while the role has no process. */
  rssMiB: Partial<Record<Role, number>>;
  /** CPU seconds used so far (user + system). */
  cpuS: Partial<Record<Role, number>>;
}

/** The role of a process from its argv, 'storm' for the hping3s, or undefined. */
export function roleOf(argv: string[]): Role | 'storm' | undefined {
  const names = argv.map((a) => basename(a));
  if (names[0] === 'nats-server') return 'nats';
  if (names[0] === 'rstscope-loader') return 'loader';
  // `timeout … hping3 …` and hping3 itself, inside the client's namespace.
  if (names.includes('hping3')) return 'storm';
  // bin/rstscope execs `node … dist/cli/main.js <verb> …`.
  const main = names.indexOf('main.js');
  const verb = main >= 0 ? argv[main + 1] : undefined;
  return verb === 'agent' || verb === 'collector' ? verb : undefined;
}

function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** This process's descendants by role (a role may have several, as the storm does). */
function pipelineProcesses(): Map<Role | 'storm', number[]> {
  const byRole = new Map<Role | 'storm', number[]>();
  for (const pid of processTree(process.pid).slice(1)) {
    const role = roleOf(argvOf(pid));
    if (role) byRole.set(role, [...(byRole.get(role) ?? []), pid]);
  }
  return byRole;
}

function sample(atS: number): ProcessSample {
  const byRole = pipelineProcesses();
  const s: ProcessSample = { atS, rssMiB: {}, cpuS: {} };
  for (const role of ROLES) {
    const pids = byRole.get(role);
    if (!pids) continue;
    s.rssMiB[role] = pids.reduce((sum, pid) => sum + rssMiB(pid), 0);
    s.cpuS[role] = cpuSeconds(pids);
  }
  return s;
}

/** Before the storm: how often to look for its first hping3. */
const STORM_POLL_MS = 200;

/**
 * Samples every `everyMs` from the storm's start (the first hping3 among our
 * descendants) until stop(), which returns the samples.
 */
export function samplePipeline(everyMs: number): { stop(): Promise<ProcessSample[]> } {
  const samples: ProcessSample[] = [];
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const loop = (async () => {
    while (!stopped && !pipelineProcesses().has('storm')) await sleep(STORM_POLL_MS);
    const t0 = performance.now();
    // On a schedule from t0, so that a slow read does not push every later sample.
    for (let k = 0; !stopped; k++) {
      samples.push(sample((performance.now() - t0) / 1000));
      await sleep(Math.max(0, t0 + (k + 1) * everyMs - performance.now()));
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      return samples;
    },
  };
}
