// A tcp-actor.mjs process inside a lab host.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../agent/repo-root.js';
import { JsonLines } from './json-lines.js';
import type { Lab, LabHost } from './lab.js';

export const ACTOR_SCRIPT = join(repoRoot(), 'test', 'lab', 'actors', 'tcp-actor.mjs');

export interface ActorEvent {
  event: string;
  [field: string]: unknown;
}

export class Actor {
  readonly out: JsonLines<ActorEvent>;

  private constructor(readonly child: ChildProcess) {
    this.out = new JsonLines<ActorEvent>(child.stdout!);
  }

  static serve(lab: Lab, host: LabHost, port: number, mode: string, extra: string[] = []): Actor {
    return new Actor(
      lab.spawn(host, [
        'node',
        ACTOR_SCRIPT,
        'serve',
        '--port',
        String(port),
        '--mode',
        mode,
        ...extra,
      ]),
    );
  }

  static connect(lab: Lab, host: LabHost, addr: string, port: number, extra: string[] = []): Actor {
    return new Actor(
      lab.spawn(host, [
        'node',
        ACTOR_SCRIPT,
        'connect',
        '--host',
        addr,
        '--port',
        String(port),
        ...extra,
      ]),
    );
  }

  waitFor(event: string, timeoutMs = 10_000): Promise<ActorEvent> {
    return this.out.waitFor((e) => e.event === event, `actor event '${event}'`, timeoutMs);
  }

  send(command: string): void {
    this.child.stdin!.write(`${command}\n`);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
