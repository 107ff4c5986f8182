// A real nats-server with JetStream for one test suite: a free port, a temporary
// store, stopped and removed afterwards. It can be stopped and started again on the
// same port and store, to play an outage. A configuration text (TLS, authorization)
// can be given; the port and store flags still win over it.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

export interface NatsServerOptions {
  /** nats-server configuration text, e.g. a tls { } and an authorization { } block. */
  config?: string;
}

export class NatsServer {
  private child: ChildProcess | undefined;
  private configFile: string | undefined;
  /** What the server printed: its log, with the permission violations it saw. */
  log = '';

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

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), mkdtempSync(join(tmpdir(), 'rstscope-nats-')));
    if (options.config !== undefined) {
      server.configFile = join(server.storeDir, 'nats-server.conf');
      writeFileSync(server.configFile, options.config);
    }
    await server.resume();
    return server;
  }

  /** `nats-server -t`: whether this server version accepts the configuration, and what it said. */
  static async checkConfig(config: string): Promise<{ ok: boolean; output: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'rstscope-nats-conf-'));
    try {
      const file = join(dir, 'nats-server.conf');
      writeFileSync(file, config);
      const { stdout, stderr } = await promisify(execFile)('nats-server', ['-t', '-c', file]);
      return { ok: true, output: stdout + stderr };
    } catch (err) {
      const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
      return { ok: false, output: stdout + stderr };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Starts the server (again) on the same port and store. */
  async resume(): Promise<void> {
    const child = spawn(
      'nats-server',
      [
        ...(this.configFile ? ['-c', this.configFile] : []),
        ...['-js', '-sd', this.storeDir, '-a', '127.0.0.1', '-p', String(this.port)],
      ],
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
