// The agent as a process: exact counters, a kernel without a reset reason,
// and the one-line answers for missing capabilities and verifier failures.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LOADER_PATH } from '../agent/config.js';
import { Actor } from './lab/actor.js';
import { AgentRunner, RSTSCOPE_BIN } from './lab/agent-runner.js';
import { Lab } from './lab/lab.js';

let lab: Lab | undefined;
let agent: AgentRunner | undefined;

afterEach(() => {
  agent?.kill();
  agent = undefined;
  lab?.destroy();
  lab = undefined;
});

async function closedPortAttempts(l: Lab, n: number, port: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const client = Actor.connect(l, l.client, l.server.ipv4, port);
    expect((await client.waitFor('error')).code).toBe('ECONNREFUSED');
  }
}

describe('rstscope agent', () => {
  it('counts N closed-port resets exactly, per namespace, direction and reason', async () => {
    lab = Lab.create();
    const serverNs = statSync(`/run/netns/${lab.server.ns}`).ino;
    agent = await AgentRunner.start(['--netns', lab.server.ns]);
    const n = 25;
    await closedPortAttempts(lab, n, 11);
    await agent.waitFor(() => agent!.events.items.length >= n, `${n} events`);
    const counters = await agent.stop();
    expect(counters.entries).toEqual([
      { netns: serverNs, direction: 'sent', reason: 'NO_SOCKET', accepted: true, count: n },
    ]);
    expect(counters).toMatchObject({ lost: 0, count_overflow: 0, delivered: n });
    // --netns kept the client's received resets out.
    expect(agent.events.items.every((e) => e.netns === serverNs)).toBe(true);
  });

  it('on a kernel without a reset reason it still loads and reports UNKNOWN', async () => {
    lab = Lab.create();
    agent = await AgentRunner.start(['--netns', lab.server.ns, '--assume-no-reason']);
    await closedPortAttempts(lab, 1, 12);
    const sent = await agent.waitFor((e) => e.local_port === 12, 'the closed-port reset');
    // The reason is gone; the evidence that names the cause is still there.
    expect(sent).toMatchObject({ direction: 'sent', reason: 'UNKNOWN', trigger_flags: 'SYN' });
    const counters = await agent.stop();
    expect(counters.entries[0]).toMatchObject({ reason: 'UNKNOWN', count: 1 });
  });

  it('with only CAP_BPF and CAP_PERFMON, what the Helm chart grants, it captures a reset', async () => {
    // The chart adds exactly these two (test/helm-chart.test.ts checks that);
    // here the bounding set holds nothing else, so nothing else is needed.
    lab = Lab.create();
    agent = await AgentRunner.start(['--netns', lab.server.ns], {}, [
      'setpriv',
      '--inh-caps=-all',
      '--bounding-set=-all,+bpf,+perfmon',
    ]);
    await closedPortAttempts(lab, 1, 13);
    const sent = await agent.waitFor((e) => e.local_port === 13, 'the closed-port reset');
    expect(sent).toMatchObject({ direction: 'sent', reason: 'NO_SOCKET' });
    const status = spawnSync('grep', ['^CapBnd', `/proc/${agent.child.pid}/status`], {
      encoding: 'utf8',
    });
    // CAP_PERFMON is bit 38 and CAP_BPF bit 39: nothing else in the bounding set.
    expect(status.stdout.trim()).toBe('CapBnd:\t000000c000000000');
  });

  it('without CAP_BPF and CAP_PERFMON: one line naming them, non-zero exit', () => {
    const run = spawnSync(
      'setpriv',
      ['--inh-caps=-all', '--bounding-set=-bpf,-perfmon,-sys_admin', RSTSCOPE_BIN, 'agent'],
      { encoding: 'utf8' },
    );
    expect(run.status).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^rstscope agent: missing capabilities CAP_BPF, CAP_PERFMON: run as root/,
    );
  });

  it('a BPF load failure shows the verifier’s last lines', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rstscope-'));
    try {
      // The loader's self-test flag makes one program read past its context.
      const wrapper = join(dir, 'loader');
      writeFileSync(wrapper, `#!/bin/sh\nexec ${DEFAULT_LOADER_PATH} --break-verifier "$@"\n`, {
        mode: 0o755,
      });
      const run = spawnSync(RSTSCOPE_BIN, ['agent'], {
        encoding: 'utf8',
        env: { ...process.env, RSTSCOPE_LOADER: wrapper },
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/^rstscope agent: BPF programs failed to load: /);
      expect(run.stderr).toContain('verifier log (last lines):');
      expect(run.stderr).toMatch(/invalid bpf_context access/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad flag: one line with the setting and the expected form, exit 2', () => {
    const run = spawnSync(RSTSCOPE_BIN, ['agent', '--ringbuf-mb', '3'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toBe(
      'rstscope agent: --ringbuf-mb 3: expected a power of two from 1 to 1024',
    );
    const unknown = spawnSync(RSTSCOPE_BIN, ['agent', '--netns', 'no-such-ns-here'], {
      encoding: 'utf8',
    });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/--netns no-such-ns-here: no such network namespace/);
  });
});
