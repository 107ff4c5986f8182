// `rstscope collector` as a separate process, on a fresh chDB data directory
// (removed afterwards) unless one is given.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RSTSCOPE_BIN } from './agent-runner.js';
import { freePort } from './free-port.js';

export class CollectorRunner {
  stderr = '';
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly queryAddress: string,
    private readonly ownsDataDir: boolean,
  ) {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (t: string) => (this.stderr += t));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static async start(
    natsUrl: string,
    options: { dataDir?: string; args?: string[] } = {},
  ): Promise<CollectorRunner> {
    const ownsDataDir = !options.dataDir;
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'rstscope-collector-'));
    const queryAddress = `127.0.0.1:${await freePort()}`;
    const child = spawn(
      RSTSCOPE_BIN,
      [
        'collector',
        '--nats',
        natsUrl,
        '--data-dir',
        dataDir,
        '--listen',
        queryAddress,
        '--max-insert-delay-ms',
        '300',
        ...(options.args ?? []),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const collector = new CollectorRunner(child, dataDir, queryAddress, ownsDataDir);
    await collector.waitForLog('collector ready', 30_000);
    return collector;
  }

  async waitForLog(text: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.stderr.includes(text)) {
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`collector: no '${text}' (exit ${this.child.exitCode}): ${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM: pending rows are inserted and acked before it exits. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Stops it and removes its data directory if the runner made it. */
  async dispose(): Promise<void> {
    await this.kill();
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
