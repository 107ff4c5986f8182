// The lab itself: hosts reach each other through the router and the bridge,
// and destroy() leaves nothing behind.
import { execFileSync, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { Actor } from './lab/actor.js';
import { RSTSCOPE_BIN } from './lab/agent-runner.js';
import { Lab } from './lab/lab.js';

const netnsList = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
let lab: Lab | undefined;

afterEach(() => {
  lab?.destroy();
  lab = undefined;
});

describe('lab', () => {
  it('routes client to server over IPv4 and IPv6', async () => {
    lab = Lab.create();
    const server = Actor.serve(lab, lab.server, 7000, 'hold');
    await server.waitFor('listening');
    for (const addr of [lab.server.ipv4, lab.server.ipv6]) {
      const client = Actor.connect(lab, lab.client, addr, 7000);
      await client.waitFor('connected');
      client.send('send 5');
      await server.waitFor('data');
      client.kill();
    }
  });

  it('puts bridge hosts behind the router, duplicate addresses allowed', async () => {
    lab = Lab.create();
    const [a, b] = lab.addBridge([
      { role: 'lan-a', ipv4: '10.3.0.10' },
      { role: 'lan-b', ipv4: '10.3.0.11' },
    ]);
    const server = Actor.serve(lab, b!, 7001, 'hold');
    await server.waitFor('listening');
    for (const from of [lab.client, a!]) {
      const client = Actor.connect(lab, from, '10.3.0.11', 7001);
      await client.waitFor('connected');
      client.kill();
    }
    const [dup] = lab.addBridge([{ role: 'lan-dup', ipv4: '10.3.0.11' }]);
    expect(lab.ip(dup!, 'addr', 'show', 'eth0')).toContain('10.3.0.11/24');
  });

  it('removes every namespace and process on destroy', async () => {
    lab = Lab.create();
    const names = lab.namespaces();
    const server = Actor.serve(lab, lab.server, 7002, 'hold');
    await server.waitFor('listening');
    lab.destroy();
    const left = netnsList();
    for (const ns of names) expect(left).not.toContain(ns);
    // The server process inside the lab is gone too: it exits on SIGKILL.
    if (server.child.exitCode === null && server.child.signalCode === null) {
      await new Promise((resolve) => server.child.once('exit', resolve));
    }
    expect(server.child.signalCode).toBe('SIGKILL');
  });

  it('`rstscope lab` keeps its namespaces until Ctrl-C, then removes them', async () => {
    const child = spawn(RSTSCOPE_BIN, ['lab'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 15_000;
    while (!out.includes('lab is up') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const names = [...out.matchAll(/rst-[0-9a-f]+-\w+/g)].map((m) => m[0]);
    expect(names).toHaveLength(3);
    // Still there a while later: nothing but Ctrl-C ends the demo.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(child.exitCode).toBeNull();
    for (const ns of names) expect(netnsList()).toContain(ns);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toContain('lab removed');
    for (const ns of names) expect(netnsList()).not.toContain(ns);
  });
});
