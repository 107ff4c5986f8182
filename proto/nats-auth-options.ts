// The flags agent and collector share to reach a secured NATS: the server's CA,
// a client certificate for mutual TLS, and credentials — an nkey seed (preferred:
// the server holds only the public key, and the seed never crosses the wire) or a
// user and password. Everything is read and checked at startup, so a wrong path
// or a malformed seed stops the process with one line naming the flag.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { nkeys } from '@nats-io/transport-node';
import { readCertificates, readKeyPair, TlsFileError } from './pem-files.js';

/** node:util parseArgs options. */
export const NATS_AUTH_OPTIONS = {
  'nats-ca': { type: 'string' },
  'nats-cert': { type: 'string' },
  'nats-key': { type: 'string' },
  'nats-nkey': { type: 'string' },
  'nats-user': { type: 'string' },
  'nats-password-file': { type: 'string' },
} as const;

/** Each flag's environment fallback (the password's is the password itself). */
export const NATS_AUTH_ENV = {
  'nats-ca': 'RSTSCOPE_NATS_CA',
  'nats-cert': 'RSTSCOPE_NATS_CERT',
  'nats-key': 'RSTSCOPE_NATS_KEY',
  'nats-nkey': 'RSTSCOPE_NATS_NKEY',
  'nats-user': 'RSTSCOPE_NATS_USER',
  'nats-password-file': 'RSTSCOPE_NATS_PASSWORD_FILE',
} as const;
export const NATS_PASSWORD_ENV = 'RSTSCOPE_NATS_PASSWORD';

export const NATS_AUTH_FLAGS_USAGE = `  --nats-ca FILE           PEM CA that issued the NATS server's certificate (TLS)
  --nats-cert FILE --nats-key FILE
                           client certificate and key, PEM, for servers that verify clients
  --nats-nkey FILE         nkey seed (SU...) to authenticate with (rstscope nats-auth makes them)
  --nats-user NAME         user name to authenticate with; the password from
                           --nats-password-file FILE or env ${NATS_PASSWORD_ENV}
                           (each flag also from env ${NATS_AUTH_ENV['nats-ca']}, ..._CERT, ..._KEY, ..._NKEY, ..._USER)`;

export type NatsAuthFlags = { [K in keyof typeof NATS_AUTH_OPTIONS]?: string };

export interface NatsAuth {
  /**
   * TLS settings (default: none given; the client still upgrades when the server
   * requires TLS, trusting the system's CAs). Files, read again at each connect.
   */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** An nkey user seed (default: none). */
  nkeySeed?: Uint8Array;
  /** The seed's public key (U...), for logs: which user this process is. */
  nkeyPublic?: string;
  /** User and password (default: none). */
  user?: { name: string; password: string };
}

export class NatsAuthConfigError extends Error {
  override name = 'NatsAuthConfigError';
}

/**
 * The NATS credentials the flags (or their environment fallbacks) name, read and
 * checked. `servers` decides whether a password would cross the network in clear
 * text. Throws NatsAuthConfigError with one line naming the flag.
 */
export function natsAuthFromFlags(
  flags: NatsAuthFlags,
  env: NodeJS.ProcessEnv,
  servers: string[],
): NatsAuth {
  const value = (flag: keyof typeof NATS_AUTH_OPTIONS) => flags[flag] ?? env[NATS_AUTH_ENV[flag]];
  const caFile = value('nats-ca');
  const certFile = value('nats-cert');
  const keyFile = value('nats-key');
  const nkeyFile = value('nats-nkey');
  const userName = value('nats-user');
  const passwordFile = value('nats-password-file');
  const auth: NatsAuth = {};

  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new NatsAuthConfigError(
      '--nats-cert and --nats-key go together: the client certificate and its private key, PEM',
    );
  }
  // Read once here only to fail early with the flag's name; the client reads them again.
  pem(() => {
    if (caFile !== undefined) readCertificates(caFile, `--nats-ca ${caFile}`);
    if (certFile !== undefined && keyFile !== undefined) {
      readKeyPair(certFile, keyFile, {
        cert: `--nats-cert ${certFile}`,
        key: `--nats-key ${keyFile}`,
      });
    }
  });
  if (caFile !== undefined || certFile !== undefined) auth.tls = { caFile, certFile, keyFile };

  if (nkeyFile !== undefined && userName !== undefined) {
    throw new NatsAuthConfigError(
      '--nats-nkey and --nats-user are two ways to authenticate: give one',
    );
  }
  if (nkeyFile !== undefined) {
    const { seed, publicKey } = readNkeySeed(nkeyFile);
    auth.nkeySeed = seed;
    auth.nkeyPublic = publicKey;
  }
  if (passwordFile !== undefined && userName === undefined) {
    throw new NatsAuthConfigError('--nats-password-file needs --nats-user: whose password is it?');
  }
  if (userName !== undefined) {
    const password =
      passwordFile !== undefined ? readPassword(passwordFile) : env[NATS_PASSWORD_ENV];
    if (!password) {
      throw new NatsAuthConfigError(
        `--nats-user ${userName} needs a password: --nats-password-file FILE or env ${NATS_PASSWORD_ENV} (never on the command line)`,
      );
    }
    const exposed = servers.find((s) => !s.startsWith('tls://') && !isLoopbackServer(s));
    if (!auth.tls && exposed !== undefined) {
      throw new NatsAuthConfigError(
        `--nats-user: the password would cross the network to ${exposed} in clear text; add --nats-ca (TLS), use a tls:// URL, or authenticate with --nats-nkey`,
      );
    }
    auth.user = { name: userName, password };
  }
  return auth;
}

/** A user seed from a file: one line, SU..., as `rstscope nats-auth` and `nk -gen user` write. */
export function readNkeySeed(file: string): { seed: Uint8Array; publicKey: string } {
  const text = readText(file, '--nats-nkey').trim();
  if (!text.startsWith('SU') || text.includes('\n')) {
    throw new NatsAuthConfigError(
      `--nats-nkey ${file}: not an nkey user seed (expected one line starting with SU; make one with 'rstscope nats-auth')`,
    );
  }
  const seed = new TextEncoder().encode(text);
  try {
    return { seed, publicKey: nkeys.fromSeed(seed).getPublicKey() };
  } catch (err) {
    throw new NatsAuthConfigError(
      `--nats-nkey ${file}: a malformed nkey seed (${(err as Error).message}); make one with 'rstscope nats-auth'`,
      { cause: err },
    );
  }
}

function readPassword(file: string): string {
  // A trailing newline is an editor's, not the password's.
  return readText(file, '--nats-password-file').replace(/\r?\n$/, '');
}

function readText(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code;
    throw new NatsAuthConfigError(`${flag} ${file}: cannot read it (${why ?? e.message})`, {
      cause: err,
    });
  }
}

function pem(read: () => void): void {
  try {
    read();
  } catch (err) {
    if (err instanceof TlsFileError) throw new NatsAuthConfigError(err.message, { cause: err });
    throw err;
  }
}

function isLoopbackServer(server: string): boolean {
  try {
    const { hostname } = new URL(server.includes('://') ? server : `nats://${server}`);
    // 127.x only as an address: a name such as 127.0.0.1.example.com resolves anywhere.
    return (
      ['localhost', '[::1]', '::1'].includes(hostname) ||
      (isIP(hostname) === 4 && hostname.startsWith('127.'))
    );
  } catch {
    return false;
  }
}
