// `rstscope agent --json` as a separate process, the way a host runs it.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../agent/repo-root.js';
import type { ResetEvent } from '../../agent/reset-event.js';
import { JsonLines } from './json-lines.js';

export const RSTSCOPE_BIN = join(repoRoot(), 'bin', 'rstscope');

export interface CounterRow {
  netns: number;
  direction: string;
  reason: string;
  accepted: boolean;
  count: number;
}

export interface AgentCounters {
  entries: CounterRow[];
  lost: number;
  count_overflow: number;
  self_reset: number;
  delivered: number;
}

export interface PublishCounters {
  published: number;
  dropped_agent: number;
  batches_published: number;
  batches_dropped: number;
}

export class AgentRunner {
  readonly events: JsonLines<ResetEvent>;
  stderr = '';
  /** Set by stop() when the agent published to NATS. */
  publish: PublishCounters | undefined;
  private readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    this.events = new JsonLines<ResetEvent>(child.stdout!);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (t: string) => (this.stderr += t));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /**
   * Starts an agent and waits until its programs are attached. `wrapper` runs
   * it under another command, e.g. setpriv with fewer capabilities.
   */
  static async start(
    args: string[],
    env: NodeJS.ProcessEnv = {},
    wrapper: string[] = [],
  ): Promise<AgentRunner> {
    const argv = [...wrapper, RSTSCOPE_BIN, 'agent', '--json', ...args];
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const agent = new AgentRunner(child);
    await new Promise<void>((resolve, reject) => {
      const onData = () => {
        if (agent.stderr.includes('capturing resets')) {
          child.stderr!.off('data', onData);
          resolve();
        }
      };
      child.stderr!.on('data', onData);
      void agent.exited.then((code) =>
        reject(new Error(`agent exited with ${code} before capturing: ${agent.stderr}`)),
      );
    });
    return agent;
  }

  waitFor(
    match: (e: ResetEvent) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<ResetEvent> {
    return this.events.waitFor(match, what, timeoutMs);
  }

  /** SIGINT, then the counters it prints on exit. */
  async stop(): Promise<AgentCounters> {
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    const code = await this.exited;
    const line = this.stderr.split('\n').find((l) => l.startsWith('{"counters"'));
    if (code !== 0 || !line) throw new Error(`agent exited with ${code}: ${this.stderr}`);
    const summary = JSON.parse(line) as { counters: AgentCounters; publish?: PublishCounters };
    this.publish = summary.publish;
    return summary.counters;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
