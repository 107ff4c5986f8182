// `rstscope agent --netns <server> --nats <url> --host <name>` as a host runs it:
// nothing printed per reset (test/lab/agent-runner.ts adds --json, whose printing
// would cost the agent more than publishing does). Its exit summary is the text
// table; read here whole, the kernel's per-reason counters included.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { RSTSCOPE_BIN } from '../test/lab/agent-runner.js';
import type { Lab } from '../test/lab/lab.js';
import { readyWhen } from './peers/capturer.js';

/** The numbers the agent's exit summary gives, in either of its two forms. */
export interface AgentSummary {
  delivered: number;
  lostInKernel: number;
  droppedInAgent: number;
  aggregated: number;
  published: number;
}

/** Reads the exit summary: the JSON line (--json) or the text table (production). */
export function parseAgentSummary(stderr: string): AgentSummary {
  const json = stderr.split('\n').find((l) => l.startsWith('{"counters"'));
  if (json) {
    const s = JSON.parse(json) as {
      counters: { delivered: number; lost: number; aggregated?: number };
      publish?: { published: number; dropped_agent: number };
    };
    return {
      delivered: s.counters.delivered,
      lostInKernel: s.counters.lost,
      droppedInAgent: s.publish?.dropped_agent ?? 0,
      aggregated: s.counters.aggregated ?? 0,
      published: s.publish?.published ?? 0,
    };
  }
  const n = (re: RegExp) => Number(re.exec(stderr)?.[1] ?? 0);
  const delivered = /events delivered: (\d+)/.exec(stderr);
  if (!delivered) throw new Error(`no exit summary in the agent's output: ${stderr.slice(-2000)}`);
  return {
    delivered: Number(delivered[1]),
    lostInKernel: n(/lost in the kernel[^:]*: (\d+)/),
    droppedInAgent: n(/dropped in the agent[^:]*: (\d+)/),
    // Resets summed into storm aggregates in the kernel, not recorded one by one.
    aggregated: n(/aggregated[^:\n]*: (\d+)/),
    published: n(/published to JetStream: (\d+)/),
  };
}

/** One row of the agent's kernel counters (exact, per namespace, direction and reason). */
export interface KernelCount {
  netns: string;
  direction: string;
  reason: string;
  count: number;
}

export interface AgentExit extends AgentSummary {
  /** What the kernel counted, per reason: every reset, whatever happened to its record. */
  kernel: KernelCount[];
  kernelSeen: number;
}

/** The rows between "kernel counters (...)" and "events delivered" of the exit table. */
export function parseKernelCounts(stderr: string): KernelCount[] {
  const lines = stderr.split('\n');
  const from = lines.findIndex((l) => l.startsWith('kernel counters'));
  if (from < 0) return [];
  const rows: KernelCount[] = [];
  for (const line of lines.slice(from + 1)) {
    const m = /^\s+(\S+)\s+(sent|received)\s+(\S+(?: \(discarded\))?)\s+(\d+)$/.exec(line);
    if (!m) break;
    rows.push({ netns: m[1]!, direction: m[2]!, reason: m[3]!, count: Number(m[4]) });
  }
  return rows;
}

/** After the NATS connection: time for the stream and the first heartbeat. */
const SETTLE_MS = 1_000;

export class ProductionAgent {
  private stderr = '';
  private readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    child.stderr!.on('data', (t: Buffer) => (this.stderr += t.toString()));
    this.exited = new Promise((resolve) => child.once('exit', resolve));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Starts it and waits until it captures and is connected to NATS. */
  static async start(lab: Lab, natsUrl: string, host: string): Promise<ProductionAgent> {
    const child = spawn(
      RSTSCOPE_BIN,
      ['agent', '--netns', lab.server.ns, '--nats', natsUrl, '--host', host],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const agent = new ProductionAgent(child);
    try {
      await readyWhen(child, () => agent.stderr, /capturing resets/, 'rstscope agent');
      await readyWhen(child, () => agent.stderr, /connected to NATS/, 'rstscope agent');
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return agent;
  }

  /** SIGINT: it flushes, sends its last heartbeat and prints its counters. */
  async stop(): Promise<AgentExit> {
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    const code = await this.exited;
    if (code !== 0) throw new Error(`agent exited with ${code}: ${this.stderr.slice(-2000)}`);
    const kernel = parseKernelCounts(this.stderr);
    return {
      ...parseAgentSummary(this.stderr),
      kernel,
      kernelSeen: kernel.reduce((n, k) => n + k.count, 0),
    };
  }

  /** For cleanup after a failure. */
  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  /** The agent's log, for a report that does not add up. */
  get log(): string {
    return this.stderr;
  }
}
