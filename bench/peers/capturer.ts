// One way to capture the resets of a storm: rstscope's agent in either mode, or a
// peer a user would otherwise run (bpftrace, tcpdump). The storm bench starts one,
// floods, lets it drain, then measures its processes and stops it.
import type { ChildProcess } from 'node:child_process';
import type { Lab } from '../../test/lab/lab.js';

export interface Captured {
  /** Events the tool wrote out: lines, pcap packets, or the agent's decoded events. */
  captured: number;
  /** Events the tool itself says it could not take (kernel ring or buffer full). */
  dropped: number;
  /** Storm records (rstscope only): resets counted in aggregates, not one by one. */
  aggregated: number;
  /** Events decoded in user space (rstscope only). */
  decoded?: number;
  /** Anything else worth a line under the table. */
  note?: string;
}

export interface RunningCapture {
  /** The process that runs the tool; its descendants count too. */
  readonly pid: number;
  stop(): Promise<Captured>;
}

export interface Capturer {
  /** Short name in the table: rstscope-nats, rstscope-json, bpftrace, tcpdump. */
  readonly name: string;
  /** What exactly runs, for the heading. */
  readonly command: string;
  start(lab: Lab): Promise<RunningCapture>;
}

/** Resolves once `text()` matches, rejects if the process exits first or time runs out. */
export function readyWhen(
  child: ChildProcess,
  text: () => string,
  ready: RegExp,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (ready.test(text())) finish();
    }, 50);
    const deadline = setTimeout(
      () => finish(new Error(`${what} did not start in ${timeoutMs} ms: ${text().slice(-2000)}`)),
      timeoutMs,
    );
    const onExit = (code: number | null) =>
      finish(new Error(`${what} exited with ${code} before it was ready: ${text().slice(-2000)}`));
    child.once('exit', onExit);
    function finish(err?: Error) {
      clearInterval(timer);
      clearTimeout(deadline);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    }
  });
}
