// TLS, mutual TLS and the bearer token on the collector's query service, end to
// end: certificates made by openssl for this run, embedded ClickHouse (chDB), the
// real server on free ports, and the CLI's client and `rstscope sql` with flags.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientSecurity } from '../cli/client-security.js';
import { QueryClient } from '../cli/query-client.js';
import type { QueryClientError, QueryClientOptions } from '../cli/query-client.js';
import { runSqlCommand } from '../cli/sql-command.js';
import { CollectorConfigError, loadCollectorConfig } from '../collector/index.js';
import { startQueryServer } from '../collector/query/index.js';
import type { QueryServer } from '../collector/query/index.js';
import { TlsFileError } from '../proto/pem-files.js';
import { isLoopback, loadQuerySecurity } from '../collector/query/server-security.js';
import type { QuerySecurityConfig } from '../collector/query/server-security.js';
import { TokenError } from '../collector/query/token-file.js';
import type { Storage } from '../collector/storage/storage.js';
import type { HealthCheckResponse } from '../proto/index.js';
import { runCaptured } from './lab/captured-io.js';
import { clientFailure } from './lab/client-failure.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import { makeTestCertificates } from './lab/certificates.js';
import type { TestCertificates } from './lab/certificates.js';

const TOKEN = 'f00dfeed-0123456789abcdef-secret';
const QUERY = 'SELECT 40 + 2 AS answer';
const ONE_LINE = /^[^\n]+$/;

const sql = (argv: string[], env: NodeJS.ProcessEnv = {}) => runCaptured(runSqlCommand, argv, env);

async function failure(promise: Promise<unknown>): Promise<QueryClientError> {
  const err = await clientFailure(promise);
  expect(err.message).toMatch(ONE_LINE);
  return err;
}

function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error, got none');
}

describe('query service security', () => {
  let dir = '';
  let certs: TestCertificates | undefined;
  let storage: Storage | undefined;
  let tokenFile = '';
  const servers: QueryServer[] = [];
  const clients: QueryClient[] = [];
  // Everything the servers log, to prove the token never appears in it.
  const logLines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => logLines.push(line) });
  const at: Record<'plain' | 'tls' | 'mtls' | 'token', string> = {
    plain: '',
    tls: '',
    mtls: '',
    token: '',
  };

  async function serve(config: QuerySecurityConfig): Promise<string> {
    const server = await startQueryServer({
      listen: '127.0.0.1:0',
      storage: storage!,
      log,
      ...loadQuerySecurity(config, '127.0.0.1:0', log),
    });
    servers.push(server);
    return server.address;
  }

  function client(address: string, options: QueryClientOptions = {}): QueryClient {
    const made = new QueryClient(address, options);
    clients.push(made);
    return made;
  }

  /** What the CLI builds from these flags, as a test would pass them. */
  function security(flags: Parameters<typeof clientSecurity>[0]): QueryClientOptions {
    return clientSecurity(flags, {}, (message) => new Error(message));
  }

  beforeAll(async () => {
    certs = await makeTestCertificates();
    dir = await mkdtemp(join(tmpdir(), 'rstscope-security-'));
    tokenFile = join(dir, 'token');
    // As `echo TOKEN > file` writes it: the newline is not part of the token.
    await writeFile(tokenFile, `${TOKEN}\n`);
    storage = await openEmbeddedStorage(join(dir, 'data'));
    const tls = { certFile: certs.server.cert, keyFile: certs.server.key };
    at.plain = await serve({ allowPlaintextToken: false });
    at.tls = await serve({ tls, allowPlaintextToken: false });
    at.mtls = await serve({ tls: { ...tls, clientCaFile: certs.ca }, allowPlaintextToken: false });
    at.token = await serve({ tls, token: { file: tokenFile }, allowPlaintextToken: false });
  });

  afterAll(async () => {
    try {
      for (const made of clients) made.close();
      await Promise.all(servers.map((server) => server.shutdown()));
    } finally {
      try {
        await storage?.close();
      } finally {
        if (dir) await rm(dir, { recursive: true, force: true });
        await certs?.remove();
      }
    }
  });

  async function answer(address: string, options: QueryClientOptions): Promise<unknown> {
    const response = await client(address, options).sql({ sql: QUERY });
    return response.rows;
  }

  describe('TLS', () => {
    it('answers a client that trusts its CA, by address and by name', async () => {
      expect(await answer(at.tls, security({ ca: certs!.ca }))).toEqual(['{"answer":42}']);
      const byName = at.tls.replace('127.0.0.1', 'localhost');
      expect(await answer(byName, security({ ca: certs!.ca }))).toEqual(['{"answer":42}']);
    });

    it('tells a plain-text client that the collector serves TLS', async () => {
      const err = await failure(client(at.tls).sql({ sql: QUERY }));
      expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(err.message).toBe(
        `the collector at ${at.tls} closed a plain-text connection: it serves TLS; ` +
          'add --ca FILE (the CA that issued its certificate) or --tls (a public CA)',
      );
    });

    it('tells a TLS client that the collector speaks plain text', async () => {
      const err = await failure(client(at.plain, security({ ca: certs!.ca })).sql({ sql: QUERY }));
      expect(err.message).toMatch(
        new RegExp(`^the collector at ${at.plain} does not speak TLS: drop --tls, --ca`),
      );
    });

    it.each([
      ['a CA that did not issue it', () => security({ ca: certs!.otherCa })],
      ["the system's CAs", () => security({ tls: true })],
    ])('refuses a certificate from an untrusted CA: %s', async (_what, options) => {
      const err = await failure(client(at.tls, options()).sql({ sql: QUERY }));
      expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(err.message).toBe(
        `the collector's certificate at ${at.tls} is not signed by a CA this client trusts ` +
          '(unable to verify the first certificate): ' +
          "pass --ca FILE with the CA that issued the collector's --tls-cert",
      );
    });

    it('names the certificate’s names when the expected name is not among them', async () => {
      const options = security({ ca: certs!.ca, 'server-name': 'collector.example.com' });
      const err = await failure(client(at.tls, options).sql({ sql: QUERY }));
      expect(err.message).toBe(
        `the collector's certificate at ${at.tls} is not for this name ` +
          "(Host: collector.example.com. is not in the cert's altnames: IP Address:127.0.0.1, DNS:localhost): " +
          'dial a name it carries with --server, or pass --server-name NAME',
      );
    });

    it('accepts --server-name for a name the certificate carries', async () => {
      const options = security({ ca: certs!.ca, 'server-name': 'localhost' });
      expect(await answer(at.tls, options)).toEqual(['{"answer":42}']);
    });
  });

  describe('mutual TLS', () => {
    it('answers a client certificate issued by the client CA', async () => {
      const options = security({ ca: certs!.ca, cert: certs!.client.cert, key: certs!.client.key });
      expect(await answer(at.mtls, options)).toEqual(['{"answer":42}']);
    });

    it('refuses a client without a certificate', async () => {
      const err = await failure(client(at.mtls, security({ ca: certs!.ca })).sql({ sql: QUERY }));
      expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(err.message).toBe(
        `the collector at ${at.mtls} requires a client certificate (mutual TLS): ` +
          "pass --cert FILE --key FILE issued by a CA in the collector's --tls-client-ca",
      );
    });

    it('refuses a client certificate from another CA', async () => {
      const options = security({
        ca: certs!.ca,
        cert: certs!.otherClient.cert,
        key: certs!.otherClient.key,
      });
      const err = await failure(client(at.mtls, options).sql({ sql: QUERY }));
      expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(err.message).toBe(
        `the collector at ${at.mtls} refused this client certificate: ` +
          "--cert must be issued by a CA in the collector's --tls-client-ca",
      );
    });

    it('refuses health checks without a client certificate too', async () => {
      // The certificate guards the connection, not the call: nothing is open.
      const err = await failure(client(at.mtls, security({ ca: certs!.ca })).check(''));
      expect(err.message).toMatch(/requires a client certificate/);
    });
  });

  describe('bearer token', () => {
    const tls = () => security({ ca: certs!.ca });

    it('answers the right token', async () => {
      expect(await answer(at.token, { ...tls(), token: TOKEN })).toEqual(['{"answer":42}']);
    });

    it('refuses a call without a token, with UNAUTHENTICATED', async () => {
      const err = await failure(client(at.token, tls()).sql({ sql: QUERY }));
      expect(err.code).toBe(GrpcStatus.UNAUTHENTICATED);
      expect(err.message).toBe(
        `the collector at ${at.token} requires a bearer token: pass --token-file FILE or set RSTSCOPE_TOKEN`,
      );
    });

    it.each([
      ['a wrong token', 'wrong'],
      ['the token with one character changed', TOKEN.slice(0, -1) + 'X'],
      ['a longer token that starts with it', `${TOKEN}X`],
    ])('refuses %s, with UNAUTHENTICATED', async (_what, token) => {
      const err = await failure(client(at.token, { ...tls(), token }).sql({ sql: QUERY }));
      expect(err.code).toBe(GrpcStatus.UNAUTHENTICATED);
      expect(err.message).toBe(
        `the collector at ${at.token} refused the bearer token: ` +
          "use the token in the collector's --token-file (check --token-file or RSTSCOPE_TOKEN)",
      );
    });

    it('guards every RPC, streams included', async () => {
      const unauthenticated = client(at.token, tls());
      const fleet = await failure(unauthenticated.fleet());
      expect(fleet.code).toBe(GrpcStatus.UNAUTHENTICATED);
      const stream = unauthenticated.watchResets({});
      const err = await new Promise<ServiceError>((resolve) => stream.on('error', resolve));
      expect(err.code).toBe(GrpcStatus.UNAUTHENTICATED);
      expect(unauthenticated.describe(err).message).toMatch(/requires a bearer token/);
    });

    it('leaves the health service open, for probes that cannot send metadata', async () => {
      const probe = client(at.token, tls());
      expect(await probe.check('')).toBe('SERVING');
      expect(await probe.check('rstscope.v1.Query')).toBe('SERVING');
      const seen: HealthCheckResponse['status'][] = [];
      const stream = probe.watch('');
      stream.on('data', (response: HealthCheckResponse) => seen.push(response.status));
      stream.on('error', () => {}); // cancel() ends it with CANCELLED
      try {
        await expect.poll(() => seen).toEqual(['SERVING']);
      } finally {
        stream.cancel();
      }
    });

    it('never writes the token to the log', () => {
      expect(logLines.length).toBeGreaterThan(0);
      expect(logLines.join('')).not.toContain(TOKEN);
    });
  });

  describe('rstscope sql with the security flags', () => {
    const mtlsFlags = () => [
      '--ca',
      certs!.ca,
      '--cert',
      certs!.client.cert,
      '--key',
      certs!.client.key,
    ];

    it('will not send a token in clear text off loopback: one line, exit 2, before any call', async () => {
      const result = await sql(['--server', '192.0.2.1:7470', '--token-file', tokenFile, QUERY]);
      expect(result).toEqual({
        out: '',
        err:
          'rstscope sql: a bearer token to 192.0.2.1:7470 without TLS would cross the network in ' +
          "clear text: add --ca FILE (the CA of the collector's certificate) or --tls\n",
        code: 2,
      });
    });

    it('queries over mutual TLS', async () => {
      const result = await sql(['--server', at.mtls, ...mtlsFlags(), '--json', QUERY]);
      expect(result).toEqual({ out: '{"answer":42}\n', err: '', code: 0 });
    });

    it('queries with the token from --token-file, or from RSTSCOPE_TOKEN, over TLS', async () => {
      const fromFile = await sql([
        '--server',
        at.token,
        '--ca',
        certs!.ca,
        '--token-file',
        tokenFile,
        '--json',
        QUERY,
      ]);
      expect(fromFile).toEqual({ out: '{"answer":42}\n', err: '', code: 0 });
      const fromEnv = await sql(['--json', QUERY], {
        RSTSCOPE_SERVER: at.token,
        RSTSCOPE_CA: certs!.ca,
        RSTSCOPE_TOKEN: TOKEN,
      });
      expect(fromEnv).toEqual({ out: '{"answer":42}\n', err: '', code: 0 });
    });

    it.each([
      ['no token', () => ['--server', at.token, '--ca', certs!.ca], /requires a bearer token/],
      [
        'no client certificate',
        () => ['--server', at.mtls, '--ca', certs!.ca],
        /requires a client certificate/,
      ],
      ['plain text to TLS', () => ['--server', at.tls], /closed a plain-text connection/],
      ['TLS to plain text', () => ['--server', at.plain, '--ca', certs!.ca], /does not speak TLS/],
    ])('fails with one line and exit 1: %s', async (_what, argv, message) => {
      const result = await sql([...argv(), QUERY]);
      expect(result.code).toBe(1);
      expect(result.out).toBe('');
      expect(result.err).toMatch(/^rstscope sql: [^\n]+\n$/);
      expect(result.err).toMatch(message);
    });

    it.each([
      [['--cert', 'c.pem'], /^rstscope sql: --cert and --key go together/],
      [
        ['--ca', '/nonexistent/ca.pem'],
        /^rstscope sql: --ca \/nonexistent\/ca.pem: cannot read it \(no such file\)$/,
      ],
      [
        ['--server-name', 'not a name'],
        /^rstscope sql: --server-name not a name: expected a DNS name/,
      ],
      [
        ['--token-file', '/nonexistent/token'],
        /^rstscope sql: --token-file \/nonexistent\/token: cannot read it/,
      ],
    ])('rejects %j with one line, exit 2', async (argv, message) => {
      const result = await sql([...argv, QUERY]);
      expect(result.code).toBe(2);
      expect(result.err.trimEnd()).toMatch(message);
      expect(result.err.split('\n')).toHaveLength(2);
    });

    it('names the file when a certificate or key is not what it should be', async () => {
      const notPem = join(dir, 'not.pem');
      await writeFile(notPem, 'hello\n');
      const asCa = await sql(['--ca', notPem, QUERY]);
      expect(asCa.err).toBe(
        `rstscope sql: --ca ${notPem}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)\n`,
      );
      const wrongKey = await sql([
        '--cert',
        certs!.client.cert,
        '--key',
        certs!.otherClient.key,
        QUERY,
      ]);
      expect(wrongKey.err).toBe(
        `rstscope sql: --key ${certs!.otherClient.key}: this key does not belong to the certificate in ${certs!.client.cert}; pass the key it was issued for\n`,
      );
      expect(wrongKey.code).toBe(2);
    });

    it('lists the security flags in its usage', async () => {
      const { SQL_USAGE } = await import('../cli/sql-command.js');
      for (const flag of [
        '--tls',
        '--ca FILE',
        '--cert FILE --key FILE',
        '--server-name NAME',
        '--token-file FILE',
      ]) {
        expect(SQL_USAGE).toContain(flag);
      }
    });
  });
});

describe('collector security flags', () => {
  const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadCollectorConfig(argv, env);
  const refusal = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const err = thrown(() => load(argv, env));
    expect(err).toBeInstanceOf(CollectorConfigError);
    expect(err.message).toMatch(ONE_LINE);
    return err.message;
  };

  it('defaults to plain text without a token', () => {
    expect(load([]).querySecurity).toEqual({
      tls: undefined,
      token: undefined,
      allowPlaintextToken: false,
    });
  });

  it('takes TLS, the client CA and a token file', () => {
    const argv = ['--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-client-ca', 'ca.pem'];
    expect(load([...argv, '--token-file', 't', '--listen', '0.0.0.0:7470']).querySecurity).toEqual({
      tls: { certFile: 'c.pem', keyFile: 'k.pem', clientCaFile: 'ca.pem' },
      token: { file: 't' },
      allowPlaintextToken: false,
    });
  });

  it('takes the token from RSTSCOPE_TOKEN, and --token-file over it', () => {
    expect(load([], { RSTSCOPE_TOKEN: 'abc' }).querySecurity.token).toEqual({ value: 'abc' });
    expect(load(['--token-file', 't'], { RSTSCOPE_TOKEN: 'abc' }).querySecurity.token).toEqual({
      file: 't',
    });
  });

  it.each([
    [
      ['--tls-cert', 'c.pem'],
      '--tls-cert and --tls-key go together: the certificate and its private key, PEM',
    ],
    [
      ['--tls-key', 'k.pem'],
      '--tls-cert and --tls-key go together: the certificate and its private key, PEM',
    ],
    [
      ['--tls-client-ca', 'ca.pem'],
      '--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS that also checks the client',
    ],
    [
      ['--listen', '0.0.0.0:7470', '--token-file', 't'],
      'a bearer token on --listen 0.0.0.0:7470 without TLS would cross the network in clear text: ' +
        'add --tls-cert and --tls-key, or --allow-plaintext-token if TLS ends in front of the collector',
    ],
  ])('refuses %j in one line naming the flag', (argv, message) => {
    expect(refusal(argv)).toBe(message);
  });

  it('refuses an empty or unsendable RSTSCOPE_TOKEN rather than run without one', () => {
    expect(refusal([], { RSTSCOPE_TOKEN: '' })).toBe('RSTSCOPE_TOKEN: the token is empty');
    expect(refusal([], { RSTSCOPE_TOKEN: 'two words' })).toMatch(
      /^RSTSCOPE_TOKEN: the token must be printable ASCII without spaces/,
    );
  });

  it('refuses a plain-text token on the network, but not on loopback or when told', () => {
    expect(refusal(['--listen', '[::]:7470'], { RSTSCOPE_TOKEN: 'abc' })).toMatch(
      /^a bearer token on --listen \[::\]:7470 without TLS/,
    );
    expect(load(['--listen', '127.0.0.1:7470', '--token-file', 't']).querySecurity.token).toEqual({
      file: 't',
    });
    const told = load(['--listen', '0.0.0.0:7470', '--token-file', 't', '--allow-plaintext-token']);
    expect(told.querySecurity.allowPlaintextToken).toBe(true);
  });

  it.each([
    ['127.0.0.1:7470', true],
    ['127.1.2.3:1', true],
    ['localhost:7470', true],
    ['[::1]:7470', true],
    ['0.0.0.0:7470', false],
    ['[::]:7470', false],
    ['10.0.0.5:7470', false],
    ['collector.internal:7470', false],
  ])('%s is loopback: %s', (listen, loopback) => {
    expect(isLoopback(listen)).toBe(loopback);
  });

  it('documents every flag in its usage', async () => {
    const { COLLECTOR_USAGE } = await import('../collector/index.js');
    for (const flag of [
      '--tls-cert FILE',
      '--tls-key FILE',
      '--tls-client-ca FILE',
      '--token-file FILE',
      'RSTSCOPE_TOKEN',
      '--allow-plaintext-token',
    ]) {
      expect(COLLECTOR_USAGE).toContain(flag);
    }
  });
});

describe('collector security files, read at startup', () => {
  let certs: TestCertificates | undefined;
  let dir = '';
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });

  beforeAll(async () => {
    certs = await makeTestCertificates();
    dir = await mkdtemp(join(tmpdir(), 'rstscope-security-files-'));
  });

  afterAll(async () => {
    try {
      await certs?.remove();
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  const startup = (config: Partial<QuerySecurityConfig>, listen = '127.0.0.1:7470') =>
    thrown(() => loadQuerySecurity({ allowPlaintextToken: false, ...config }, listen, log));

  it('names a certificate or key file that cannot be read', () => {
    const err = startup({
      tls: { certFile: join(dir, 'missing.crt'), keyFile: certs!.server.key },
    });
    expect(err).toBeInstanceOf(TlsFileError);
    expect(err.message).toBe(
      `--tls-cert ${join(dir, 'missing.crt')}: cannot read it (no such file)`,
    );
  });

  it('names a file that holds no certificate, or a key that is not one', async () => {
    const junk = join(dir, 'junk.pem');
    await writeFile(
      junk,
      '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n',
    );
    const cert = startup({ tls: { certFile: junk, keyFile: certs!.server.key } });
    expect(cert.message).toMatch(new RegExp(`^--tls-cert ${junk}: not a valid certificate \\(`));
    expect(cert.message).toMatch(ONE_LINE);
    // A certificate where the key belongs.
    const key = startup({ tls: { certFile: certs!.server.cert, keyFile: certs!.ca } });
    expect(key.message).toMatch(new RegExp(`^--tls-key ${certs!.ca}: not a PEM private key \\(`));
    expect(key.message).toMatch(ONE_LINE);
    const ca = startup({
      tls: {
        certFile: certs!.server.cert,
        keyFile: certs!.server.key,
        clientCaFile: certs!.server.key,
      },
    });
    expect(ca.message).toBe(
      `--tls-client-ca ${certs!.server.key}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)`,
    );
  });

  it('refuses a key that belongs to another certificate', () => {
    const err = startup({ tls: { certFile: certs!.server.cert, keyFile: certs!.client.key } });
    expect(err.message).toBe(
      `--tls-key ${certs!.client.key}: this key does not belong to the certificate in ${certs!.server.cert}; pass the key it was issued for`,
    );
  });

  it('names a token file that is unreadable or empty', async () => {
    const empty = join(dir, 'empty-token');
    await writeFile(empty, '\n');
    expect(startup({ token: { file: empty } })).toBeInstanceOf(TokenError);
    expect(startup({ token: { file: empty } }).message).toBe(
      `--token-file ${empty}: the token is empty`,
    );
    const locked = join(dir, 'locked-token');
    await writeFile(locked, 'abc');
    await chmod(locked, 0);
    // root reads a file whatever its mode; a missing file fails for everyone.
    const unreadable = process.getuid?.() === 0 ? join(dir, 'no-token') : locked;
    expect(startup({ token: { file: unreadable } }).message).toMatch(
      new RegExp(
        `^--token-file ${unreadable}: cannot read it \\((no such file|permission denied)\\)$`,
      ),
    );
  });

  it('warns when the service is open to the network in plain text', () => {
    lines.length = 0;
    loadQuerySecurity({ allowPlaintextToken: false }, '0.0.0.0:7470', log);
    loadQuerySecurity({ allowPlaintextToken: true, token: { value: 'abc' } }, '0.0.0.0:7470', log);
    loadQuerySecurity(
      {
        allowPlaintextToken: false,
        tls: { certFile: certs!.server.cert, keyFile: certs!.server.key },
      },
      '0.0.0.0:7470',
      log,
    );
    const warnings = lines.filter((line) => line.level === 40).map((line) => line.msg);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/without TLS or token/);
    expect(warnings[1]).toMatch(/bearer token accepted in clear text/);
  });
});
