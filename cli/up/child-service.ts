// One process `rstscope up` runs: started in its own process group (so Ctrl-C
// reaches only `up`, which then stops the children in order), its output in a log
// file, ready when a given text appears there.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** Long enough for the agent's 5 s drain and last heartbeat and the collector's last insert. */
const STOP_GRACE_MS = 15_000;

export class ChildService {
  private readonly exited: Promise<number | null>;
  private stopping = false;

  private constructor(
    readonly name: string,
    readonly logFile: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static start(name: string, command: string, args: string[], logFile: string): ChildService {
    // A fresh log per run, so readiness is never read from an earlier run's lines.
    const log = openSync(logFile, 'w');
    try {
      const child = spawn(command, args, { stdio: ['ignore', log, log], detached: true });
      return new ChildService(name, logFile, child);
    } finally {
      closeSync(log);
    }
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when the child exits on its own (not because we stopped it). */
  get died(): Promise<number | null> {
    return this.exited.then((code) => (this.stopping ? new Promise<never>(() => {}) : code));
  }

  async waitReady(text: string, timeoutMs: number, abort: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.log().includes(text)) {
      if (abort.aborted) throw new Error(`stopped while ${this.name} was starting`);
      if (!this.running) throw new Error(`${this.name} exited: ${this.lastLine()}`);
      if (Date.now() > deadline) {
        throw new Error(`${this.name} not ready after ${timeoutMs / 1000} s: ${this.lastLine()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  /** The last meaningful line of the log, for one-line errors. */
  lastLine(): string {
    const lines = this.log().trim().split('\n').filter(Boolean);
    const last = lines[lines.length - 1] ?? '(no output)';
    try {
      const parsed = JSON.parse(last) as { msg?: string };
      return parsed.msg ?? last;
    } catch {
      return last;
    }
  }

  private log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}
