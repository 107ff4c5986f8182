// rstscope's agent on the storm: as it runs in production, publishing binary
// batches to NATS JetStream (nothing printed; bench/production-agent.ts), and,
// for reference, printing one JSON line per event to a pipe that this process
// counts and throws away.
import { spawn } from 'node:child_process';
import { RSTSCOPE_BIN } from '../../test/lab/agent-runner.js';
import type { Lab } from '../../test/lab/lab.js';
import { ProductionAgent, parseAgentSummary } from '../production-agent.js';
import type { AgentSummary } from '../production-agent.js';
import { readyWhen } from './capturer.js';
import type { Captured, Capturer, RunningCapture } from './capturer.js';

export function rstscopeCapturer(mode: { nats: string } | 'json'): Capturer {
  return mode === 'json' ? jsonCapturer : natsCapturer(mode.nats);
}

/** What either mode reports: its output, and the agent's own account. */
function captured(output: number, s: AgentSummary): Captured {
  return {
    captured: output,
    dropped: s.lostInKernel + s.droppedInAgent,
    aggregated: s.aggregated,
    decoded: s.delivered,
    note: `decoded ${s.delivered}, lost in the kernel ${s.lostInKernel}, dropped in the agent ${s.droppedInAgent}`,
  };
}

/** Production: its output is what reached JetStream. Measured from steady state, as the peers are. */
function natsCapturer(natsUrl: string): Capturer {
  return {
    name: 'rstscope-nats',
    command: 'rstscope agent --netns <server> --nats <url>',
    async start(lab: Lab): Promise<RunningCapture> {
      const agent = await ProductionAgent.start(lab, natsUrl, 'bench');
      return {
        pid: agent.pid,
        async stop(): Promise<Captured> {
          const s = await agent.stop();
          return captured(s.published, s);
        },
      };
    },
  };
}

/** Reference: its output is the lines it printed. */
const jsonCapturer: Capturer = {
  name: 'rstscope-json',
  command: 'rstscope agent --netns <server> --json > pipe',
  async start(lab: Lab): Promise<RunningCapture> {
    const child = spawn(RSTSCOPE_BIN, ['agent', '--netns', lab.server.ns, '--json'], {
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
    return {
      pid: child.pid!,
      async stop(): Promise<Captured> {
        child.kill('SIGINT');
        const code = await exited;
        if (code !== 0) throw new Error(`agent exited with ${code}: ${stderr.slice(-2000)}`);
        return captured(lines, parseAgentSummary(stderr));
      },
    };
  },
};
