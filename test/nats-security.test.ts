// NATS secured as docs/security.md says: TLS with client certificates, an nkey per
// agent host from `rstscope nats-auth`, and the authorization block it prints, on a
// real nats-server 2.9. A real agent in lab namespaces publishes with its own seed
// and the collector (its own seed) stores the resets; the same agent claiming
// another host is refused and counts what it could not send; a raw client with
// one host's seed cannot publish as, or listen to, another; plaintext, a missing
// client certificate and an unknown seed are refused with one clear line.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { connect, nkeys } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../agent/config.js';
import { loadCollectorConfig } from '../collector/config.js';
import { QueryClient } from '../cli/query-client.js';
import type { WatchResetsResponse } from '../proto/index.js';
import { natsAuthFromFlags } from '../proto/nats-auth-options.js';
import {
  describeNatsFailure,
  isPermissionViolation,
  natsConnectionOptions,
} from '../proto/nats-connection-options.js';
import { agentInboxPrefix } from '../proto/nats-permissions.js';
import { agentsSubject, resetsSubject } from '../proto/nats-topology.js';
import { Actor } from './lab/actor.js';
import { AgentRunner, RSTSCOPE_BIN } from './lab/agent-runner.js';
import { makeTestCertificates } from './lab/certificates.js';
import type { TestCertificates } from './lab/certificates.js';
import { CollectorRunner } from './lab/collector-runner.js';
import { Lab } from './lab/lab.js';
import { NatsServer } from './lab/nats-server.js';
import { countRows, queryRows, waitForRows } from './lab/stored-resets.js';

const run = promisify(execFile);
const HOST_A = 'sec-a';
const HOST_B = 'sec-b';

let certs: TestCertificates;
let creds: string;
let block: string;
let natsConfig: string;
let nats: NatsServer;
let collector: CollectorRunner;
let lab: Lab;
const clients: NatsConnection[] = [];

/** The flags every party passes for mutual TLS. */
const tlsFlags = () => [
  '--nats-ca',
  certs.ca,
  '--nats-cert',
  certs.client.cert,
  '--nats-key',
  certs.client.key,
];
const seed = (name: string) => join(creds, `${name}.nk`);

beforeAll(async () => {
  certs = await makeTestCertificates();
  creds = mkdtempSync(join(tmpdir(), 'rstscope-nats-creds-'));
  const made = await run(RSTSCOPE_BIN, [
    'nats-auth',
    '--host',
    HOST_A,
    '--host',
    HOST_B,
    '--out',
    creds,
  ]);
  block = made.stdout;
  natsConfig = `tls {
  cert_file: "${certs.server.cert}"
  key_file: "${certs.server.key}"
  ca_file: "${certs.ca}"
  verify: true
  timeout: 5
}
${block}`;
  nats = await NatsServer.start({ config: natsConfig });
  collector = await CollectorRunner.start(nats.url, {
    args: [...tlsFlags(), '--nats-nkey', seed('collector')],
  });
  lab = Lab.create();
}, 60_000);

afterAll(async () => {
  for (const nc of clients) await nc.close().catch(() => {});
  await collector?.dispose();
  await nats?.stop();
  lab?.destroy();
  await certs?.remove();
  if (creds) rmSync(creds, { recursive: true, force: true });
});

/** A raw client with one of the generated seeds, over mutual TLS. */
async function rawClient(seedFile: string, inboxPrefix: string): Promise<NatsConnection> {
  const auth = natsAuthFromFlags(
    {
      'nats-ca': certs.ca,
      'nats-cert': certs.client.cert,
      'nats-key': certs.client.key,
      'nats-nkey': seedFile,
    },
    {},
    [nats.url],
  );
  const nc = await connect({ servers: nats.url, ...natsConnectionOptions(auth, inboxPrefix) });
  clients.push(nc);
  return nc;
}

/** The error a subscription ends with (a permission violation is terminal for it). */
function subscriptionRefusal(nc: NatsConnection, subject: string): Promise<Error> {
  return new Promise((resolve) => {
    nc.subscribe(subject, {
      callback: (err) => {
        if (err) resolve(err);
      },
    });
  });
}

async function closedPortResets(port: number): Promise<void> {
  await Actor.connect(lab, lab.client, lab.server.ipv4, port).waitFor('error');
}

describe('rstscope nats-auth', () => {
  it('writes one seed per host and the collector 0600, and a block nats-server 2.9 accepts', async () => {
    for (const name of [`agent-${HOST_A}`, `agent-${HOST_B}`, 'collector']) {
      expect(statSync(seed(name)).mode & 0o777).toBe(0o600);
      expect(readFileSync(seed(name), 'utf8')).toMatch(/^SU[A-Z2-7]+\n$/);
    }
    const publicA = nkeys.fromSeed(
      Buffer.from(readFileSync(seed(`agent-${HOST_A}`), 'utf8').trim()),
    );
    expect(block).toContain(publicA.getPublicKey());
    // The block holds public keys only.
    expect(block).not.toMatch(/\bSU[A-Z2-7]{20,}/);
    expect(await NatsServer.checkConfig(natsConfig)).toMatchObject({ ok: true });
    // Run again with one more host: the existing seeds are kept.
    const before = readFileSync(seed(`agent-${HOST_A}`), 'utf8');
    const again = await run(RSTSCOPE_BIN, [
      'nats-auth',
      ...['--host', HOST_A, '--host', HOST_B, '--host', 'sec-c', '--out', creds],
    ]);
    expect(readFileSync(seed(`agent-${HOST_A}`), 'utf8')).toBe(before);
    expect(again.stdout).toContain(publicA.getPublicKey());
    expect(again.stdout).toContain('"rstscope.v1.resets.sec-c"');
    // And again naming only a new host: the hosts seeded before stay in the block.
    const onlyNew = await run(RSTSCOPE_BIN, ['nats-auth', '--host', 'sec-d', '--out', creds]);
    for (const host of [HOST_A, HOST_B, 'sec-c', 'sec-d']) {
      expect(onlyNew.stdout).toContain(`"rstscope.v1.resets.${host}"`);
    }
    expect(onlyNew.stdout).toContain(publicA.getPublicKey());
  });
});

describe('NATS with TLS and per-agent nkeys', () => {
  it("stores the resets of an agent that publishes with its own host's seed", async () => {
    const agent = await AgentRunner.start([
      ...lab.namespaces(lab.client, lab.server).flatMap((ns) => ['--netns', ns]),
      ...['--nats', nats.url, '--host', HOST_A, ...tlsFlags()],
      ...['--nats-nkey', seed(`agent-${HOST_A}`)],
    ]);
    let counters;
    try {
      await closedPortResets(8400);
      await closedPortResets(8401);
    } finally {
      counters = await agent.stop();
    }
    expect(counters.delivered).toBeGreaterThanOrEqual(4);
    expect(agent.publish).toMatchObject({ published: counters.delivered, dropped_agent: 0 });
    expect(
      await waitForRows(collector.queryAddress, counters.delivered),
      'rows stored for the agent',
    ).toBe(counters.delivered);
    expect(await countRows(collector.queryAddress, `host = '${HOST_A}'`)).toBe(counters.delivered);
    const heartbeats = await queryRows(
      collector.queryAddress,
      `SELECT count() AS n FROM agents WHERE host = '${HOST_A}'`,
    );
    expect(Number(heartbeats[0]!.n)).toBeGreaterThan(0);
  }, 60_000);

  it("refuses an agent that claims another host with this host's seed: nothing stored, one line, counted", async () => {
    const agent = await AgentRunner.start([
      ...lab.namespaces(lab.client, lab.server).flatMap((ns) => ['--netns', ns]),
      ...['--nats', nats.url, '--host', 'other', ...tlsFlags()],
      ...['--nats-nkey', seed(`agent-${HOST_A}`)],
    ]);
    let counters;
    try {
      await closedPortResets(8410);
      await closedPortResets(8411);
      // Until it has tried (and been refused), so the count below is not vacuous.
      const deadline = Date.now() + 20_000;
      while (!agent.stderr.includes("credentials are not this host's") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      counters = await agent.stop();
    }
    const refusals = agent.stderr.split('\n').filter((l) => l.includes("not this host's"));
    expect(refusals, agent.stderr).toHaveLength(1);
    expect(refusals[0]).toContain('--host other');
    expect(counters.delivered).toBeGreaterThanOrEqual(4);
    // Every event is accounted for: none published, all counted as dropped.
    expect(agent.publish).toMatchObject({ published: 0, dropped_agent: counters.delivered });
    expect(agent.publish!.batches_dropped).toBeGreaterThan(0);
    expect(await countRows(collector.queryAddress, "host = 'other'")).toBe(0);
    const heartbeats = await queryRows(
      collector.queryAddress,
      "SELECT count() AS n FROM agents WHERE host = 'other'",
    );
    expect(Number(heartbeats[0]!.n)).toBe(0);
  }, 60_000);

  it("refuses a raw client with a's seed on b's subjects, b's inbox and the resets of every host", async () => {
    const nc = await rawClient(seed(`agent-${HOST_A}`), agentInboxPrefix(HOST_A));
    const js = jetstream(nc);
    for (const subject of [resetsSubject(HOST_B), agentsSubject(HOST_B)]) {
      const refused = await js.publish(subject, new Uint8Array([1]), { timeout: 5_000 }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isPermissionViolation(refused), String(refused)).toBe(true);
    }
    for (const subject of [`${agentInboxPrefix(HOST_B)}.>`, 'rstscope.v1.resets.>', '_INBOX.>']) {
      const err = await subscriptionRefusal(nc, subject);
      expect(isPermissionViolation(err), `${subject}: ${String(err)}`).toBe(true);
    }
    expect(await countRows(collector.queryAddress, `host = '${HOST_B}'`)).toBe(0);
  });

  it("serves the live watch through the collector's own credentials", async () => {
    const client = new QueryClient(collector.queryAddress);
    const stream = client.watchResets({});
    const seen: WatchResetsResponse[] = [];
    stream.on('data', (r: WatchResetsResponse) => seen.push(r));
    stream.on('error', () => {});
    await new Promise<void>((resolve) => stream.once('metadata', () => resolve()));
    const agent = await AgentRunner.start([
      ...lab.namespaces(lab.client, lab.server).flatMap((ns) => ['--netns', ns]),
      ...['--nats', nats.url, '--host', HOST_B, ...tlsFlags()],
      ...['--nats-nkey', seed(`agent-${HOST_B}`)],
    ]);
    try {
      await closedPortResets(8420);
      const deadline = Date.now() + 20_000;
      while (!seen.some((r) => r.reset?.host === HOST_B) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await agent.stop();
      stream.cancel();
      client.close();
    }
    expect(seen.some((r) => r.reset?.host === HOST_B)).toBe(true);
  }, 60_000);
});

describe('refused with one clear line', () => {
  it('refuses plaintext: the server requires TLS and closes a client that speaks without it', async () => {
    const { text, closed } = await new Promise<{ text: string; closed: boolean }>((resolve) => {
      const socket = tcpConnect(nats.port, '127.0.0.1');
      let text = '';
      let sent = false;
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ text, closed: false });
      }, 15_000);
      socket.on('data', (b) => {
        text += b.toString();
        if (!sent && text.includes('\r\n')) {
          sent = true;
          socket.write(
            'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\nPUB rstscope.v1.resets.sec-a 1\r\nx\r\n',
          );
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ text, closed: true });
      });
    });
    expect(text).toMatch(/^INFO .*"tls_required":true/);
    expect(text).not.toMatch(/PONG|\+OK/);
    expect(closed, nats.log.slice(-1000)).toBe(true);
  });

  it('refuses a client without a client certificate, and one with an unknown seed', async () => {
    const unknown = join(creds, 'unknown.nk');
    writeFileSync(unknown, `${new TextDecoder().decode(nkeys.createUser().getSeed())}\n`, {
      mode: 0o600,
    });
    const noCertificate = natsAuthFromFlags(
      { 'nats-ca': certs.ca, 'nats-nkey': seed(`agent-${HOST_A}`) },
      {},
      [nats.url],
    );
    const withUnknownSeed = natsAuthFromFlags(
      {
        'nats-ca': certs.ca,
        'nats-cert': certs.client.cert,
        'nats-key': certs.client.key,
        'nats-nkey': unknown,
      },
      {},
      [nats.url],
    );
    const failure = (auth: typeof noCertificate) =>
      connect({
        servers: nats.url,
        ...natsConnectionOptions(auth, agentInboxPrefix(HOST_A)),
        reconnect: false,
        timeout: 5_000,
      }).then(
        (nc) => {
          clients.push(nc);
          return 'connected';
        },
        (err: unknown) => describeNatsFailure(err),
      );
    expect(await failure(withUnknownSeed)).toMatch(/^NATS refused these credentials .*--nats-nkey/);
    expect(await failure(noCertificate)).not.toBe('connected');
  });

  it('stops a collector whose seed the server does not know, with one line', async () => {
    const unknown = join(creds, 'unknown-collector.nk');
    writeFileSync(unknown, `${new TextDecoder().decode(nkeys.createUser().getSeed())}\n`, {
      mode: 0o600,
    });
    const dataDir = mkdtempSync(join(tmpdir(), 'rstscope-collector-'));
    try {
      const result = await run(
        RSTSCOPE_BIN,
        [
          'collector',
          ...['--nats', nats.url, '--data-dir', dataDir, '--listen', '127.0.0.1:0'],
          ...tlsFlags(),
          ...['--nats-nkey', unknown],
        ],
        { timeout: 60_000 },
      ).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      expect(result.code).toBe(1);
      const last = result.stderr.trim().split('\n').at(-1)!;
      expect(last).toMatch(
        /^rstscope collector: cannot connect to NATS at .*NATS refused these credentials/,
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);

  it('refuses bad flags with one line naming the flag (exit 2)', async () => {
    const malformed = join(creds, 'malformed.nk');
    writeFileSync(malformed, 'SUNOTASEED\n');
    const cases: [string[], RegExp][] = [
      [['--nats-nkey', malformed], /^--nats-nkey .*malformed\.nk: a malformed nkey seed/],
      [
        ['--nats-nkey', join(creds, 'absent.nk')],
        /^--nats-nkey .*: cannot read it \(no such file\)/,
      ],
      [['--nats-cert', certs.client.cert], /--nats-cert and --nats-key go together/],
      [['--nats-ca', certs.client.key], /^--nats-ca .*: no PEM certificate/],
      [
        ['--nats-nkey', seed('collector'), '--nats-user', 'u'],
        /--nats-nkey and --nats-user .*give one/,
      ],
      [['--nats-user', 'u'], /--nats-user u needs a password/],
    ];
    for (const [flags, message] of cases) {
      expect(() => loadAgentConfig(['--nats', nats.url, ...flags], {}), flags.join(' ')).toThrow(
        message,
      );
      expect(() => loadCollectorConfig(['--nats', nats.url, ...flags], {})).toThrow(message);
    }
    // A password in clear text over the network is refused; on loopback, or with TLS, taken.
    const password = { RSTSCOPE_NATS_PASSWORD: 'secret' };
    expect(() =>
      loadCollectorConfig(['--nats', 'nats://10.9.9.9:4222', '--nats-user', 'u'], password),
    ).toThrow(/in clear text/);
    expect(
      loadCollectorConfig(['--nats', nats.url, '--nats-user', 'u'], password).natsAuth.user,
    ).toEqual({ name: 'u', password: 'secret' });
    expect(() => loadAgentConfig(['--nats-nkey', seed('collector')], {})).toThrow(
      /no effect without --nats/,
    );
    // The real binary: exit 2 and one line.
    const result = await run(RSTSCOPE_BIN, [
      'agent',
      '--nats',
      nats.url,
      '--nats-nkey',
      malformed,
    ]).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^rstscope agent: --nats-nkey /);
  });
});
