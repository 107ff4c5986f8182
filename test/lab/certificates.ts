// Certificates for one TLS test suite, made by the openssl CLI in a temporary
// directory: a CA, a server certificate for 127.0.0.1 and localhost, a client
// certificate from that CA, and a second CA with its own client certificate (the
// one a mutual-TLS server must refuse). EC P-256 keys, valid for one day.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertificateFiles {
  cert: string;
  key: string;
}

export interface TestCertificates {
  dir: string;
  /** The CA that issued server and client. */
  ca: string;
  /** Subject alternative names 127.0.0.1 and localhost, nothing else. */
  server: CertificateFiles;
  /** Issued by `ca`. */
  client: CertificateFiles;
  /** A CA nobody trusts. */
  otherCa: string;
  /** Issued by `otherCa`. */
  otherClient: CertificateFiles;
  remove(): Promise<void>;
}

export async function makeTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'rstscope-certs-'));
  try {
    const file = (name: string) => join(dir, name);
    await writeFile(
      file('server.ext'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
    );
    await writeFile(file('client.ext'), 'extendedKeyUsage=clientAuth\n');
    await makeCa(file('ca'), 'rstscope test CA');
    await makeCa(file('other-ca'), 'rstscope untrusted test CA');
    await issue(file('ca'), file('server'), 'rstscope test collector', file('server.ext'));
    await issue(file('ca'), file('client'), 'rstscope test client', file('client.ext'));
    await issue(file('other-ca'), file('other-client'), 'intruder', file('client.ext'));
    const pair = (name: string) => ({ cert: file(`${name}.crt`), key: file(`${name}.key`) });
    return {
      dir,
      ca: file('ca.crt'),
      server: pair('server'),
      client: pair('client'),
      otherCa: file('other-ca.crt'),
      otherClient: pair('other-client'),
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(base: string, name: string): Promise<unknown> {
  return openssl([
    'req',
    '-x509',
    ...KEY,
    '-keyout',
    `${base}.key`,
    '-out',
    `${base}.crt`,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

async function issue(ca: string, base: string, name: string, extensions: string): Promise<void> {
  await openssl([
    'req',
    ...KEY,
    '-keyout',
    `${base}.key`,
    '-out',
    `${base}.csr`,
    '-subj',
    `/CN=${name}`,
  ]);
  await openssl([
    'x509',
    '-req',
    '-in',
    `${base}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-set_serial',
    String(Date.now()),
    '-days',
    '1',
    '-extfile',
    extensions,
    '-out',
    `${base}.crt`,
  ]);
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(err)}`, { cause: err });
  }
}
