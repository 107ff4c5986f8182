// The resets of part 1's lab scenarios, provoked without assertions, for suites
// that check what happens to the events downstream (pipeline, storage).
import { Actor } from './actor.js';
import type { Lab } from './lab.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs every scenario once; ports start at basePort. */
export async function provokeEveryKindOfReset(lab: Lab, basePort: number): Promise<void> {
  // Closed port, IPv4 and IPv6: NO_SOCKET, received in SYN_SENT.
  await Actor.connect(lab, lab.client, lab.server.ipv4, basePort).waitFor('error');
  await Actor.connect(lab, lab.client, lab.server.ipv6, basePort).waitFor('error');

  // Close with unread data.
  let server = Actor.serve(lab, lab.server, basePort + 1, 'unread', ['--wait-ms', '300']);
  await server.waitFor('listening');
  let client = Actor.connect(lab, lab.client, lab.server.ipv4, basePort + 1);
  await client.waitFor('connected');
  client.send('send 1000');
  await client.waitFor('error');
  server.kill();

  // SO_LINGER {1, 0}.
  server = Actor.serve(lab, lab.server, basePort + 2, 'linger0');
  await server.waitFor('listening');
  client = Actor.connect(lab, lab.client, lab.server.ipv4, basePort + 2);
  await client.waitFor('connected');
  client.send('send 10');
  await client.waitFor('error');
  server.kill();

  // Data after close (a full orphaned FIN_WAIT2 socket answers with a reset).
  lab.exec(lab.server, ['sysctl', '-qw', 'net.ipv4.tcp_fin_timeout=120']);
  server = Actor.serve(lab, lab.server, basePort + 3, 'close', ['--wait-ms', '100']);
  await server.waitFor('listening');
  client = Actor.connect(lab, lab.client, lab.server.ipv4, basePort + 3);
  await client.waitFor('connected');
  client.send('send 10');
  await client.waitFor('end');
  client.send('send 100');
  await sleep(300);
  client.kill();
  server.kill();

  // The router rejects mid-stream with tcp-reset, and an RST nobody's window accepts.
  server = Actor.serve(lab, lab.server, basePort + 4, 'hold');
  await server.waitFor('listening');
  client = Actor.connect(lab, lab.client, lab.server.ipv4, basePort + 4);
  const { local_port: clientPort } = await client.waitFor('connected');
  client.send('send 10');
  await server.waitFor('data');
  // hping3 exits with 1 when nothing answers, which is the point here.
  lab.exec(lab.router, [
    'sh',
    '-c',
    `hping3 -q -c 1 -R -a ${lab.server.ipv4} -s ${basePort + 4} -k -p ${String(clientPort)} -M 12345 ${lab.client.ipv4}; true`,
  ]);
  await sleep(200);
  const reject = [
    'FORWARD',
    '-p',
    'tcp',
    '--dport',
    String(basePort + 4),
    '-j',
    'REJECT',
    '--reject-with',
    'tcp-reset',
  ];
  lab.exec(lab.router, ['iptables', '-I', ...reject]);
  try {
    client.send('send 10');
    await client.waitFor('error');
  } finally {
    lab.exec(lab.router, ['iptables', '-D', ...reject]);
    server.kill();
  }
}

/**
 * A closed-port SYN storm from the client: one reset per SYN, `count` of them.
 * Asynchronous on purpose: while it runs, this process keeps reading the agent's and
 * collector's output; a blocked reader would pause the agent (back-pressure).
 */
export async function synStorm(
  lab: Lab,
  port: number,
  count: number,
  intervalUs: number,
): Promise<void> {
  // hping3 exits with 1 when nothing answers its last probe; the count is what matters.
  const child = lab.spawn(lab.client, [
    'hping3',
    '-q',
    '-S',
    '-p',
    String(port),
    '-c',
    String(count),
    '-i',
    `u${intervalUs}`,
    lab.server.ipv4,
  ]);
  await new Promise((resolve) => child.once('exit', resolve));
}
