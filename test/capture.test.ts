// The agent's capture path on a real kernel: real programs in lab namespaces
// make real resets, and the agent's records are checked field by field.
// Needs root (namespaces, BPF); fails loudly without it.
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResetEvent } from '../agent/reset-event.js';
import { Actor } from './lab/actor.js';
import { AgentRunner } from './lab/agent-runner.js';
import { Lab } from './lab/lab.js';

let lab: Lab;
let agent: AgentRunner;
let clientNs: number;
let serverNs: number;
let routerNs: number;

const inode = (ns: string) => statSync(`/run/netns/${ns}`).ino;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  lab = Lab.create();
  clientNs = inode(lab.client.ns);
  serverNs = inode(lab.server.ns);
  routerNs = inode(lab.router.ns);
  agent = await AgentRunner.start(lab.namespaces().flatMap((ns) => ['--netns', ns]));
});

afterAll(async () => {
  try {
    await agent?.stop();
  } finally {
    lab?.destroy();
  }
});

/** Events of one flow, seen from the server's port. */
function flowEvents(serverPort: number): ResetEvent[] {
  return agent.events.items.filter(
    (e) => e.local_port === serverPort || e.remote_port === serverPort,
  );
}

async function listening(actor: Actor): Promise<void> {
  await actor.waitFor('listening');
}

describe('capture on a real kernel', () => {
  it('closed port: the server sends NO_SOCKET, the client receives it in SYN_SENT', async () => {
    const client = Actor.connect(lab, lab.client, lab.server.ipv4, 9);
    expect((await client.waitFor('error')).code).toBe('ECONNREFUSED');

    const sent = await agent.waitFor(
      (e) => e.direction === 'sent' && e.netns === serverNs && e.local_port === 9,
      'NO_SOCKET from the server',
    );
    const recv = await agent.waitFor(
      (e) => e.direction === 'received' && e.netns === clientNs && e.remote_port === 9,
      'the client receiving it',
    );
    expect(sent).toMatchObject({
      reason: 'NO_SOCKET',
      family: 'ipv4',
      local_addr: '10.2.0.2',
      remote_addr: '10.1.0.2',
      remote_port: recv.local_port,
      trigger_flags: 'SYN',
      trigger_ack: 0,
      sock_cookie: '0',
      rst_ttl: null,
    });
    expect(recv).toMatchObject({
      accepted: true,
      reason: 'UNKNOWN',
      state: 'SYN_SENT',
      prev_state: 'CLOSE',
      local_addr: '10.1.0.2',
      remote_addr: '10.2.0.2',
      rst_ttl: 63, // 64 from the server, one router on the way
      rst_seq: 0,
      rst_ack: sent.trigger_seq! + 1,
      snd_una: sent.trigger_seq,
      comm: 'node', // the connecting process
      trigger_flags: null,
    });
    // Over veth the whole round trip can run in the connecting process's own
    // softirq while it holds the socket: then the RST is processed from the
    // socket backlog in its context.
    expect(['owner', 'context']).toContain(recv.pid_source);
    expect(recv).toMatchObject({
      trigger_flags: null,
    });
    expect(recv.sock_cookie).not.toBe('0');
  });

  it('close with unread data: TCP_ABORT_ON_CLOSE with the unread bytes and the closing process', async () => {
    const server = Actor.serve(lab, lab.server, 8002, 'unread', [
      '--wait-ms',
      '500',
      '--title',
      'rst-unread',
    ]);
    await listening(server);
    const client = Actor.connect(lab, lab.client, lab.server.ipv4, 8002);
    await client.waitFor('connected');
    client.send('send 1000');
    expect((await client.waitFor('error')).code).toBe('ECONNRESET');

    const sent = await agent.waitFor(
      (e) => e.direction === 'sent' && e.netns === serverNs && e.local_port === 8002,
      'the server reset',
    );
    const recv = await agent.waitFor(
      (e) => e.direction === 'received' && e.netns === clientNs && e.remote_port === 8002,
      'the client receiving it',
    );
    expect(sent).toMatchObject({
      reason: 'TCP_ABORT_ON_CLOSE',
      state: 'CLOSE',
      prev_state: 'ESTABLISHED',
      unread_bytes: 1000,
      bytes_received: 1000,
      comm: 'rst-unread',
      pid_source: 'context',
      linger_on: false,
      isn_exact: true,
    });
    expect(sent.conn_age_ms).toBeGreaterThan(400);
    expect(recv).toMatchObject({
      accepted: true,
      state: 'ESTABLISHED',
      prev_state: 'SYN_SENT',
      rst_ttl: 63,
      peer_ttl: 63,
      bytes_acked: 1000 + 1, // the SYN counts as acked on the active side
      isn_exact: true,
      // Both ends agree on the flow's two initial sequence numbers.
      isn_local: sent.isn_remote,
      isn_remote: sent.isn_local,
    });
    expect(recv.rst_seq).toBe(sent.snd_nxt);
    await sleep(200);
    expect(flowEvents(8002).filter((e) => e.direction === 'received')).toHaveLength(1);
    server.kill();
  });

  it('SO_LINGER {1, 0}: an abort from ESTABLISHED with linger on and 0 s', async () => {
    const server = Actor.serve(lab, lab.server, 8003, 'linger0', ['--title', 'rst-linger']);
    await listening(server);
    const client = Actor.connect(lab, lab.client, lab.server.ipv4, 8003);
    await client.waitFor('connected');
    client.send('send 10');
    expect((await client.waitFor('error')).code).toBe('ECONNRESET');

    const sent = await agent.waitFor(
      (e) => e.direction === 'sent' && e.netns === serverNs && e.local_port === 8003,
      'the linger abort',
    );
    expect(sent).toMatchObject({
      // close() with a zero linger goes through tcp_disconnect(), which gives TCP_STATE.
      reason: 'TCP_STATE',
      linger_on: true,
      linger_s: 0,
      prev_state: 'ESTABLISHED',
      state: 'CLOSE',
      unread_bytes: 0,
      comm: 'rst-linger',
      pid_source: 'context',
    });
    server.kill();
  });

  it('data after close: TCP_ABORT_ON_DATA', async () => {
    // An orphaned FIN_WAIT2 socket normally becomes a timewait mini-socket,
    // which answers late data with TCP_TIMEWAIT_SOCKET instead; with
    // tcp_fin_timeout above TIME_WAIT's 60 s the kernel keeps the full socket.
    lab.exec(lab.server, ['sysctl', '-qw', 'net.ipv4.tcp_fin_timeout=120']);
    const server = Actor.serve(lab, lab.server, 8004, 'close', ['--wait-ms', '100']);
    await listening(server);
    const client = Actor.connect(lab, lab.client, lab.server.ipv4, 8004);
    await client.waitFor('connected');
    client.send('send 10');
    await client.waitFor('end'); // the server closed: FIN
    // After end of stream Node reads no more, so the client process itself
    // never sees the reset; the kernels do.
    client.send('send 100');

    const sent = await agent.waitFor(
      (e) => e.direction === 'sent' && e.netns === serverNs && e.local_port === 8004,
      'the abort on data',
    );
    expect(sent).toMatchObject({
      reason: 'TCP_ABORT_ON_DATA',
      prev_state: 'FIN_WAIT2',
      trigger_flags: expect.stringContaining('ACK'),
    });
    const recv = await agent.waitFor(
      (e) => e.direction === 'received' && e.netns === clientNs && e.remote_port === 8004,
      'the client receiving it',
    );
    expect(recv).toMatchObject({ state: 'CLOSE_WAIT', accepted: true, rst_ttl: 63 });
    // The server's own tcp_reset() for this abort is not a received reset.
    expect(
      flowEvents(8004).filter((e) => e.netns === serverNs && e.direction === 'received'),
    ).toEqual([]);
    server.kill();
  });

  it('router REJECT --reject-with tcp-reset: received, sent by no TCP stack, TTL unlike the server', async () => {
    const server = Actor.serve(lab, lab.server, 8005, 'hold');
    await listening(server);
    const client = Actor.connect(lab, lab.client, lab.server.ipv4, 8005);
    await client.waitFor('connected');
    client.send('send 10');
    await server.waitFor('data');
    await sleep(100);
    lab.exec(lab.router, [
      'iptables',
      '-I',
      'FORWARD',
      '-p',
      'tcp',
      '--dport',
      '8005',
      '-j',
      'REJECT',
      '--reject-with',
      'tcp-reset',
    ]);
    try {
      client.send('send 10');
      expect((await client.waitFor('error')).code).toBe('ECONNRESET');
      const recv = await agent.waitFor(
        (e) => e.direction === 'received' && e.netns === clientNs && e.remote_port === 8005,
        'the injected reset',
      );
      expect(recv).toMatchObject({
        accepted: true,
        state: 'ESTABLISHED',
        rst_ttl: 64,
        peer_ttl: 63,
      });
      await sleep(300);
      expect(flowEvents(8005).filter((e) => e.direction === 'sent')).toEqual([]);
      expect(agent.events.items.filter((e) => e.netns === routerNs)).toEqual([]);
    } finally {
      lab.exec(lab.router, ['iptables', '-F', 'FORWARD']);
      server.kill();
    }
  });

  it('in-window RST that is not exact: received, not accepted, and the connection survives', async () => {
    const server = Actor.serve(lab, lab.server, 8006, 'hold');
    await listening(server);
    // The server's ISN, from the SYN-ACK on the client's wire.
    const dump = lab.spawn(lab.client, [
      'tcpdump',
      '-i',
      'eth0',
      '-nn',
      '-S',
      '-l',
      '-c',
      '1',
      'tcp[tcpflags] == (tcp-syn|tcp-ack) and src port 8006',
    ]);
    let dumpText = '';
    dump.stdout!.on('data', (t: Buffer) => (dumpText += t.toString()));
    await new Promise<void>((resolve) =>
      dump.stderr!.on('data', (t: Buffer) => t.toString().includes('listening') && resolve()),
    );
    const client = Actor.connect(lab, lab.client, lab.server.ipv4, 8006);
    const { local_port: clientPort } = await client.waitFor('connected');
    await new Promise((r) => dump.once('exit', r));
    const serverIsn = Number(/seq (\d+)/.exec(dumpText)![1]);
    const seq = (serverIsn + 1 + 1000) >>> 0; // rcv_nxt + 1000: in the window, not exact

    lab.exec(lab.router, [
      'hping3',
      '-q',
      '-c',
      '1',
      '-R',
      '-a',
      lab.server.ipv4,
      '-s',
      '8006',
      '-k',
      '-p',
      String(clientPort),
      '-M',
      String(seq),
      lab.client.ipv4,
    ]);
    const recv = await agent.waitFor(
      (e) => e.direction === 'received' && e.netns === clientNs && e.remote_port === 8006,
      'the discarded RST',
    );
    expect(recv).toMatchObject({
      accepted: false,
      drop_reason: 'TCP_RESET', // RFC 5961: answered with a challenge ACK
      state: 'ESTABLISHED',
      rst_seq: seq,
      rst_ttl: 64,
      rcv_nxt: (serverIsn + 1) >>> 0,
      isn_remote: serverIsn,
    });
    client.send('send 10');
    await server.waitFor('data');
    server.kill();
  });

  it('survived_idle_ms: the longest silence between received segments, RSTs not counted', async () => {
    const server = Actor.serve(lab, lab.server, 8007, 'echo', ['--title', 'rst-echo']);
    await listening(server);
    /**
     * Connects; per pause, waits that long, sends 10 bytes and waits for the echo; then
     * waits `quietMs` more and has the server abort. Returns the client's port and when
     * each echo arrived.
     */
    const converse = async (pausesMs: number[], quietMs = 0) => {
      const client = Actor.connect(lab, lab.client, lab.server.ipv4, 8007);
      const port = (await client.waitFor('connected')).local_port as number;
      // abort reaches only connections the server has accepted.
      await server.out.waitFor((e) => e.event === 'accepted' && e.remote_port === port, 'accept');
      const echoes = (n: number) =>
        client.out.waitFor(
          () => client.out.items.filter((e) => e.event === 'data').length >= n,
          `echo ${n}`,
        );
      const echoedAt: number[] = [];
      for (const [i, pause] of pausesMs.entries()) {
        await sleep(pause);
        client.send('send 10');
        await echoes(i + 1);
        echoedAt.push(Date.now());
      }
      await sleep(quietMs);
      server.send(`abort ${port}`);
      expect((await client.waitFor('error')).code).toBe('ECONNRESET');
      return { port, echoedAt };
    };
    const records = async (port: number) => ({
      sent: await agent.waitFor(
        (e) => e.direction === 'sent' && e.netns === serverNs && e.remote_port === port,
        `the abort of client port ${port}`,
      ),
      received: await agent.waitFor(
        (e) => e.direction === 'received' && e.netns === clientNs && e.local_port === port,
        `client port ${port} receiving it`,
      ),
    });

    // Data, 1.5 s of silence, data again, then the reset.
    const idle = await converse([0, 1500]);
    const silence = idle.echoedAt[1]! - idle.echoedAt[0]!;
    const { sent, received } = await records(idle.port);
    expect(received).toMatchObject({ accepted: true, state: 'ESTABLISHED' });
    expect(Math.abs(received.survived_idle_ms! - silence)).toBeLessThanOrEqual(300);
    expect(Math.abs(received.survived_idle_ms! - 1500)).toBeLessThanOrEqual(300);
    // The server lived through the same silence (less the client's ACK delay).
    expect(Math.abs(sent.survived_idle_ms! - 1500)).toBeLessThanOrEqual(300);

    // The same exchange without the pause, then 1 s of quiet that the RST ends: that
    // silence killed the connection rather than being survived, so it does not count.
    const busy = await converse([0, 0], 1000);
    const quick = await records(busy.port);
    expect(quick.received.survived_idle_ms).not.toBeNull();
    expect(quick.received.survived_idle_ms).toBeLessThan(300);
    expect(quick.received.last_recv_ms).toBeGreaterThanOrEqual(700);

    // Nothing received in ESTABLISHED but the RST: unknown, not zero.
    const silent = await converse([]);
    expect((await records(silent.port)).received.survived_idle_ms).toBeNull();
    server.kill();
  });

  it('IPv6 closed port: NO_SOCKET and the client receives it with the hop limit', async () => {
    const client = Actor.connect(lab, lab.client, lab.server.ipv6, 10);
    expect((await client.waitFor('error')).code).toBe('ECONNREFUSED');
    const sent = await agent.waitFor(
      (e) => e.direction === 'sent' && e.netns === serverNs && e.local_port === 10,
      'NO_SOCKET over IPv6',
    );
    const recv = await agent.waitFor(
      (e) => e.direction === 'received' && e.netns === clientNs && e.remote_port === 10,
      'the client receiving it',
    );
    expect(sent).toMatchObject({
      reason: 'NO_SOCKET',
      family: 'ipv6',
      local_addr: 'fd00:2::2',
      remote_addr: 'fd00:1::2',
      trigger_flags: 'SYN',
    });
    expect(recv).toMatchObject({
      family: 'ipv6',
      state: 'SYN_SENT',
      rst_ttl: 63,
      rst_ip_id: 0,
      local_addr: 'fd00:1::2',
      remote_addr: 'fd00:2::2',
    });
  });
});
