// tcpdump in the server's namespace, as a user would capture resets: an RST filter
// on the interface, packets written to a pcap. Its loss is what it reports as
// "dropped by kernel" plus what never reached the file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from '../../test/lab/lab.js';
import { readyWhen } from './capturer.js';
import type { Captured, Capturer, RunningCapture } from './capturer.js';
import { pcapPackets } from './pcap-packets.js';

const FILTER = 'tcp[tcpflags] & tcp-rst != 0';

/** tcpdump's closing lines: "N packets captured", "... M packets dropped by kernel". */
export function tcpdumpDropped(stderr: string): number {
  return Number(/(\d+) packets? dropped by kernel/.exec(stderr)?.[1] ?? 0);
}

export const tcpdumpCapturer: Capturer = {
  name: 'tcpdump',
  command: `tcpdump -i eth0 -w <file> '${FILTER}' (in the server's namespace)`,
  async start(lab: Lab): Promise<RunningCapture> {
    const dir = mkdtempSync(join(tmpdir(), 'rstscope-bench-pcap-'));
    const file = join(dir, 'resets.pcap');
    // `ip netns exec` execs tcpdump in place: the child's pid is tcpdump's. -Z root: by
    // default tcpdump drops to its own user, which cannot write into our private dir.
    const child = lab.spawn(lab.server, [
      'tcpdump',
      '-Z',
      'root',
      '-i',
      'eth0',
      '-w',
      file,
      FILTER,
    ]);
    let stderr = '';
    child.stderr!.on('data', (t: Buffer) => (stderr += t.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await readyWhen(child, () => stderr, /listening on eth0/, 'tcpdump');
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
          return { captured: pcapPackets(file), dropped: tcpdumpDropped(stderr), aggregated: 0 };
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  },
};
