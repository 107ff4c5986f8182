// Supervises the native loader (build/rstscope-loader): starts it, turns its
// frames into decoded batches and counters, and stops it cleanly. The loader
// is a separate process so that libbpf, the privileges and the ring-buffer
// drain live outside the JavaScript thread (docs/agent.md).
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { LoaderCrashedError, LoaderStartError } from './errors.js';
import {
  FRAME_BATCH,
  FRAME_COUNTERS,
  FRAME_HELLO,
  FrameReader,
  FrameStreamError,
  parseBatchHeader,
  parseCounters,
  parseHello,
} from './loader-frames.js';
import type { Frame, KernelCounters, LoaderHello } from './loader-frames.js';

const STDERR_TAIL_BYTES = 16 * 1024;
const STOP_GRACE_MS = 5_000;

export interface LoaderOptions {
  path: string;
  netnsInodes: number[];
  ringbufMb: number;
  aggregateSlots: number;
  /** Behave as on a kernel whose tcp_send_reset has no reason argument. */
  assumeNoReason: boolean;
}

export interface LoaderHandlers {
  /** Raw records of one batch; recordsAt is where they start in payload. */
  onBatch(payload: Buffer, recordsAt: number, realtimeOffsetNs: bigint): void;
  onCounters(counters: KernelCounters): void;
  /** The loader said something on stderr (notes about missing tracepoints). */
  onNote(line: string): void;
  /** The loader died on its own after it had started. */
  onCrash(error: LoaderCrashedError): void;
}

export class LoaderProcess {
  private child: ChildProcessWithoutNullStreams | undefined;
  private stderrTail = '';
  private stopping = false;
  /** A crash already reported: the exit that follows our kill is not another. */
  private crashReported = false;
  private lastCounters: KernelCounters | undefined;

  constructor(
    private readonly options: LoaderOptions,
    private readonly handlers: LoaderHandlers,
  ) {}

  /** Resolves once the programs are loaded and attached. */
  start(): Promise<LoaderHello> {
    const args = [
      '--ringbuf-mb',
      String(this.options.ringbufMb),
      '--aggregate-slots',
      String(this.options.aggregateSlots),
    ];
    for (const inode of this.options.netnsInodes) args.push('--netns-inode', String(inode));
    if (this.options.assumeNoReason) args.push('--assume-no-reason');

    const child = spawn(this.options.path, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    const reader = new FrameReader();

    return new Promise<LoaderHello>((resolve, reject) => {
      let started = false;
      child.on('error', (err) => {
        reject(
          new LoaderStartError(
            `cannot run the loader ${this.options.path}: ${err.message}; run ./scripts/setup.sh to build it`,
            '',
            { cause: err },
          ),
        );
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (text: string) => {
        this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_BYTES);
        if (started) {
          for (const line of text.split('\n')) if (line.trim()) this.handlers.onNote(line.trim());
        }
      });
      child.stdout.on('data', (chunk: Buffer) => {
        let frames: LoaderFrame[];
        try {
          frames = reader.push(chunk).map(parseFrame);
        } catch (err) {
          // A broken stream cannot be resynchronised: stop the loader, say why.
          child.kill('SIGKILL');
          const message = (err as Error).message;
          this.crashReported = started;
          if (started) this.handlers.onCrash(new LoaderCrashedError(message, { cause: err }));
          else reject(new LoaderStartError(message, this.stderrTail.trim(), { cause: err }));
          return;
        }
        for (const frame of frames) {
          if (frame.type === 'hello') {
            started = true;
            resolve(frame.hello);
          } else if (frame.type === 'batch') {
            this.handlers.onBatch(frame.payload, frame.recordsAt, frame.realtimeOffsetNs);
          } else {
            this.lastCounters = frame.counters;
            this.handlers.onCounters(frame.counters);
          }
        }
      });
      child.on('exit', (code, signal) => {
        if (!started) {
          const lines = this.stderrTail.trim().split('\n');
          const first = lines[0] ?? `loader exited with ${code ?? signal}`;
          reject(new LoaderStartError(first.replace(/^error: /, ''), lines.slice(1).join('\n')));
        } else if (!this.stopping && !this.crashReported) {
          this.handlers.onCrash(
            new LoaderCrashedError(
              `the loader exited unexpectedly (${code ?? signal}): ${this.stderrTail.trim().split('\n').pop() ?? ''}`,
            ),
          );
        }
      });
    });
  }

  /**
   * Stop reading the loader while the consumer catches up. The loader's writes
   * then block, the kernel ring buffer fills, and what it cannot hold is
   * counted as lost in the kernel: memory here stays bounded.
   */
  pause(): void {
    this.child?.stdout.pause();
  }

  resume(): void {
    this.child?.stdout.resume();
  }

  /** Ask for a counters frame now (delivered through onCounters). */
  requestCounters(): void {
    this.child?.stdin.write('c');
  }

  /** Stop: the loader drains its ring buffer, sends final counters and exits. */
  async stop(): Promise<KernelCounters | undefined> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return this.lastCounters;
    this.stopping = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // After a crash (SIGKILL) the pipe may have closed before the exit is reaped.
    const closed = child.stdout.closed
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.stdout.once('close', () => resolve()));
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await Promise.all([exited, closed]);
    clearTimeout(timer);
    return this.lastCounters;
  }
}

type LoaderFrame =
  | { type: 'hello'; hello: LoaderHello }
  | { type: 'batch'; payload: Buffer; recordsAt: number; realtimeOffsetNs: bigint }
  | { type: 'counters'; counters: KernelCounters };

/** A frame's payload parsed; throws FrameStreamError for one that does not parse. */
function parseFrame(frame: Frame): LoaderFrame {
  if (frame.type === FRAME_HELLO) return { type: 'hello', hello: parseHello(frame.payload) };
  if (frame.type === FRAME_BATCH) {
    return { type: 'batch', payload: frame.payload, ...parseBatchHeader(frame.payload) };
  }
  if (frame.type === FRAME_COUNTERS)
    return { type: 'counters', counters: parseCounters(frame.payload) };
  // FrameReader refuses unknown types before this.
  throw new FrameStreamError(`loader frame of unknown type ${frame.type}`);
}
