// A closed-port SYN storm held at a fixed rate for a fixed time. hping3's `-i uN`
// sleeps N µs between packets, but each packet also costs the send, the wakeup and
// (on veth) the receiver's softirq: at `-i u50` this VM sends ~13-14k/s, not 20k/s,
// and less when loaded; even `-i u1` sleeps, and tops out near 15-20k/s. So the
// storm is split over parallel hping3s of at most 10k/s each, runs as a string of
// short runs, and after each one the interval is set again from the rate it reached.
import type { Lab } from '../test/lab/lab.js';

/** Each hping3 run: short enough to follow the load, long enough that its start costs little. */
const CHUNK_MS = 2_000;
/** What one hping3 reaches with room to spare (its sleeps leave it ~20 µs per packet). */
const STREAM_RATE = 10_000;

export interface PacedStorm {
  /** Packets hping3 says it sent. */
  sent: number;
  /** Wall time from the first run's start to the last one's end. */
  elapsedMs: number;
  /** Parallel hping3s. */
  streams: number;
  /** The interval each run used (µs): how far below 1e6/(its share of the rate) it had to go. */
  intervalsUs: number[];
}

/** Resets the server's kernel has sent so far (its namespace's TcpOutRsts). */
export function tcpOutRsts(lab: Lab): number {
  const out = lab.exec(lab.server, ['nstat', '-asz', 'TcpOutRsts']);
  return Number(/TcpOutRsts\s+(\d+)/.exec(out)?.[1] ?? 0);
}

/** The "N packets transmitted" of hping3's exit statistics. */
export function hpingTransmitted(output: string): number | undefined {
  const m = /(\d+) packets transmitted/.exec(output);
  return m ? Number(m[1]) : undefined;
}

/** One hping3 run of `ms`, stopped with SIGINT (it prints its statistics then). */
async function hpingFor(
  lab: Lab,
  port: number,
  intervalUs: number,
  ms: number,
): Promise<{ sent: number; ms: number }> {
  const started = performance.now();
  // Asynchronous on purpose: this process keeps reading its children's output meanwhile.
  // -k: an hping3 that outlives its INT is killed a second later (it prints nothing
  // then, and this run fails) rather than flooding on past the storm's end.
  const child = lab.spawn(lab.client, [
    'timeout',
    '-k',
    '1',
    '-s',
    'INT',
    String(ms / 1000),
    'hping3',
    '-q',
    '-S',
    '-p',
    String(port),
    '-i',
    `u${intervalUs}`,
    lab.server.ipv4,
  ]);
  let output = '';
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  await new Promise((resolve) => child.once('exit', resolve));
  const sent = hpingTransmitted(output);
  if (sent === undefined) throw new Error(`hping3 printed no statistics: ${output.slice(-500)}`);
  return { sent, ms: performance.now() - started };
}

/** `streams` hping3s at once for `ms`: their packets summed, the longest's time. */
async function hpingsFor(
  lab: Lab,
  port: number,
  intervalUs: number,
  ms: number,
  streams: number,
): Promise<{ sent: number; ms: number }> {
  const runs = await Promise.all(
    Array.from({ length: streams }, () => hpingFor(lab, port, intervalUs, ms)),
  );
  return {
    sent: runs.reduce((n, r) => n + r.sent, 0),
    ms: Math.max(...runs.map((r) => r.ms)),
  };
}

/** SYNs from the lab client to the server's closed `port`, `rate` per second for `seconds`. */
export async function pacedSynStorm(
  lab: Lab,
  options: { rate: number; seconds: number; port: number },
): Promise<PacedStorm> {
  const streams = Math.ceil(options.rate / STREAM_RATE);
  // Per hping3: its share of the rate, and the time between its packets.
  const rate = options.rate / streams;
  const periodUs = 1e6 / rate;
  // A first guess from this VM (~20 µs per packet besides the sleep); the runs correct it.
  let intervalUs = Math.max(1, Math.round(periodUs - 20));
  const intervalsUs: number[] = [];
  const started = performance.now();
  const endAt = started + options.seconds * 1000;
  let sent = 0;
  for (let now = started; now < endAt - 50; now = performance.now()) {
    intervalsUs.push(intervalUs);
    const ms = Math.round(Math.min(CHUNK_MS, endAt - now));
    const run = await hpingsFor(lab, options.port, intervalUs, ms, streams);
    sent += run.sent;
    // What a packet took besides the sleep, on this run (its start included); the
    // overhead shrinks with the interval (timer slack), so aim at the schedule too:
    // the packets due by the next run's end, within a fifth of the period either way.
    const overheadUs = (run.ms * 1000) / Math.max(run.sent / streams, 1) - intervalUs;
    const at = performance.now();
    const nextMs = Math.min(CHUNK_MS, endAt - at);
    const due = (rate * (at + nextMs - started)) / 1000 - sent / streams;
    const aimUs = due > 0 ? (nextMs * 1000) / due : periodUs * 1.2;
    const clamped = Math.min(periodUs * 1.2, Math.max(periodUs * 0.8, aimUs));
    intervalUs = Math.max(1, Math.round(clamped - overheadUs));
  }
  return { sent, elapsedMs: performance.now() - started, streams, intervalsUs };
}
