// rstscope's agent on the storm: as it runs in production, publishing binary
// batches to NATS JetStream (nothing printed), and, for reference, printing one
// JSON line per event to a pipe that this process counts and throws away.
import { spawn } from 'node:child_process';
import { RSTSCOPE_BIN } from '../../test/lab/agent-runner.js';
import type { Lab } from '../../test/lab/lab.js';
import { readyWhen } from './capturer.js';
import type { Captured, Capturer, RunningCapture } from './capturer.js';

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
    // Storm aggregation (issue 7, engineer K) adds this line; 0 until it exists.
    aggregated: n(/aggregated[^:\n]*: (\d+)/),
    published: n(/published to JetStream: (\d+)/),
  };
}

/** After the NATS connection: time for the stream and the first heartbeat. */
const SETTLE_MS = 1_000;

export function rstscopeCapturer(mode: { nats: string } | 'json'): Capturer {
  const output = mode === 'json' ? ['--json'] : ['--nats', mode.nats, '--host', 'bench'];
  return {
    name: mode === 'json' ? 'rstscope-json' : 'rstscope-nats',
    command: `rstscope agent --netns <server> ${mode === 'json' ? '--json > pipe' : '--nats <url>'}`,
    async start(lab: Lab): Promise<RunningCapture> {
      const child = spawn(RSTSCOPE_BIN, ['agent', '--netns', lab.server.ns, ...output], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let lines = 0;
      let stderr = '';
      // Counted, not parsed: the reader must not be the bottleneck.
      child.stdout.on('data', (chunk: Buffer) => {
        for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
      });
      child.stderr.on('data', (t: Buffer) => (stderr += t.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      await readyWhen(child, () => stderr, /capturing resets/, 'rstscope agent');
      if (mode !== 'json') {
        // Measured from steady state, as the peers are: the NATS connection, the
        // stream and the first heartbeat come just after the line above.
        await readyWhen(child, () => stderr, /connected to NATS/, 'rstscope agent');
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      }
      return {
        pid: child.pid!,
        async stop(): Promise<Captured> {
          child.kill('SIGINT');
          const code = await exited;
          if (code !== 0) throw new Error(`agent exited with ${code}: ${stderr.slice(-2000)}`);
          const s = parseAgentSummary(stderr);
          // Production's output is what reached JetStream; the reference mode's, the lines printed.
          return {
            captured: mode === 'json' ? lines : s.published,
            dropped: s.lostInKernel + s.droppedInAgent,
            aggregated: s.aggregated,
            decoded: s.delivered,
            note: `decoded ${s.delivered}, lost in the kernel ${s.lostInKernel}, dropped in the agent ${s.droppedInAgent}`,
          };
        },
      };
    },
  };
}
