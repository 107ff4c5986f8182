// bpftrace on the agent's two tracepoints, as a user would run it: one printf per
// reset (time, direction, tuple, state, reason) into a file, filtered in the
// kernel to the server's namespace as the agent is (--netns). Its own loss is
// what its perf buffer dropped ("Lost N events" in the output).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from '../../test/lab/lab.js';
import { readyWhen } from './capturer.js';
import type { Captured, Capturer, RunningCapture } from './capturer.js';

const BPFTRACE = '/usr/bin/bpftrace';
/** Time allowed, after bpftrace says it attaches, for the probes to be attached. */
const ATTACH_MS = 1000;

/**
 * $1 is the namespace's inode. A reset sent with no socket (the storm's case)
 * has only the packet; an active reset (tcp_send_active_reset) only the socket.
 */
const SCRIPT = `
tracepoint:tcp:tcp_send_reset
{
  $ns = args->skaddr != 0
    ? ((struct sock *)args->skaddr)->__sk_common.skc_net.net->ns.inum
    : ((struct sk_buff *)args->skbaddr)->dev->nd_net.net->ns.inum;
  if ($ns == $1) {
    $s = (struct sockaddr_in *)args->saddr;
    $d = (struct sockaddr_in *)args->daddr;
    printf("%llu sent %s:%d > %s:%d state=%d reason=%d\\n", nsecs,
      ntop($s->sin_addr.s_addr), bswap($s->sin_port),
      ntop($d->sin_addr.s_addr), bswap($d->sin_port), args->state, args->reason);
  }
}
tracepoint:tcp:tcp_receive_reset
/((struct sock *)args->skaddr)->__sk_common.skc_net.net->ns.inum == $1/
{
  printf("%llu received %s:%d < %s:%d\\n", nsecs,
    ntop(args->saddr), args->sport, ntop(args->daddr), args->dport);
}
`;

/** bpftrace reads tracepoint formats from tracefs, which this VM does not mount by default. */
function ensureTracefs(): void {
  if (existsSync('/sys/kernel/tracing/events/tcp')) return;
  execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing']);
}

/** Event lines in bpftrace's output, and the events it says its buffer lost. */
export function countBpftraceOutput(text: string): { lines: number; lost: number } {
  let lines = 0;
  let lost = 0;
  for (const line of text.split('\n')) {
    const l = /^Lost (\d+) events/.exec(line);
    if (l) lost += Number(l[1]);
    else if (/ (sent|received) /.test(line)) lines++;
  }
  return { lines, lost };
}

export const bpftraceCapturer: Capturer = {
  name: 'bpftrace',
  command: `bpftrace -o <file> (printf per event, in-kernel netns filter)`,
  async start(lab: Lab): Promise<RunningCapture> {
    ensureTracefs();
    const dir = mkdtempSync(join(tmpdir(), 'rstscope-bench-bt-'));
    const script = join(dir, 'resets.bt');
    const out = join(dir, 'resets.txt');
    writeFileSync(script, SCRIPT);
    const inode = statSync(`/run/netns/${lab.server.ns}`).ino;
    const child = spawn(BPFTRACE, ['-o', out, script, String(inode)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let said = '';
    child.stdout.on('data', (t: Buffer) => (said += t.toString()));
    child.stderr.on('data', (t: Buffer) => (said += t.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // bpftrace buffers its event lines in the file until exit; only "Attaching N probes"
    // comes at once, just before it attaches, which takes milliseconds.
    const written = () => (existsSync(out) ? readFileSync(out, 'utf8') : '') + said;
    try {
      await readyWhen(child, written, /Attaching 2 probes/, 'bpftrace');
      await new Promise((r) => setTimeout(r, ATTACH_MS));
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return {
      pid: child.pid!,
      async stop(): Promise<Captured> {
        child.kill('SIGINT');
        await exited;
        try {
          const { lines, lost } = countBpftraceOutput(readFileSync(out, 'utf8'));
          return { captured: lines, dropped: lost, aggregated: 0 };
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  },
};
