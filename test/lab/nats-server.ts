// A real nats-server with JetStream for one test suite: a free port, a temporary
// store, stopped and removed afterwards. It can be stopped and started again on the
// same port and store, to play an outage.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

export class NatsServer {
  private child: ChildProcess | undefined;
  private log = '';

  private constructor(
    readonly port: number,
    readonly storeDir: string,
  ) {}

  /** The running server's process id (for CPU accounting in benchmarks). */
  get pid(): number {
    return this.child!.pid!;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), mkdtempSync(join(tmpdir(), 'rstscope-nats-')));
    await server.resume();
    return server;
  }

  /** Starts the server (again) on the same port and store. */
  async resume(): Promise<void> {
    const child = spawn(
      'nats-server',
      ['-js', '-sd', this.storeDir, '-a', '127.0.0.1', '-p', String(this.port)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    child.stdout!.on('data', (b: Buffer) => (this.log += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (this.log += b.toString()));
    const deadline = Date.now() + 10_000;
    while (!(await this.answers())) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`nats-server did not start on ${this.port}: ${this.log.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops the server, keeping its store. */
  async pause(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  async stop(): Promise<void> {
    await this.pause();
    rmSync(this.storeDir, { recursive: true, force: true });
  }

  private answers(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(this.port, '127.0.0.1');
      socket.once('data', (b) => {
        socket.destroy();
        resolve(b.toString().startsWith('INFO'));
      });
      socket.once('error', () => resolve(false));
    });
  }
}
