// How a query verb secures its channel to the collector: TLS (system CAs or
// --ca), a client certificate for mutual TLS, the name to expect on the
// server's certificate, and the bearer token; and, when the handshake fails,
// which of these to change.
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import { readCertificates, readKeyPair, TlsFileError } from '../proto/pem-files.js';
import type { KeyPair } from '../proto/pem-files.js';
import { checkToken, readTokenFile, TOKEN_ENV, TokenError } from '../collector/query/token-file.js';

export interface ClientTls {
  /** CAs to verify the collector against (default: the system's). */
  ca?: Buffer;
  /** Client certificate and key, for a collector that requires them (mutual TLS). */
  keyPair?: KeyPair;
  /** The name the collector's certificate must carry (default: the host dialled). */
  serverName?: string;
}

export interface ClientSecurity {
  /** Default: plain text. */
  tls?: ClientTls;
  /** Sent as `authorization: Bearer <token>` (default: none). */
  token?: string;
}

/** The parseArgs options for it, spread into every query verb's CONNECTION_OPTIONS. */
export const SECURITY_OPTIONS = {
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'server-name': { type: 'string' },
  'token-file': { type: 'string' },
} as const;

export const SECURITY_USAGE = `  --tls               TLS, verifying the collector against the system's CAs
  --ca FILE           TLS, verifying the collector against the CAs in FILE (env RSTSCOPE_CA)
  --cert FILE --key FILE
                      a client certificate, for a collector that requires one (mutual TLS;
                      env RSTSCOPE_CERT, RSTSCOPE_KEY)
  --server-name NAME  the name on the collector's certificate, when --server is an address
                      or another name (env RSTSCOPE_SERVER_NAME)
  --token-file FILE   send the bearer token in FILE (env ${TOKEN_ENV}: the token itself)`;

export interface SecurityValues {
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  'server-name'?: string;
  'token-file'?: string;
}

/**
 * Reads the files the flags (else the environment) name; `fail` makes the
 * one-line usage error for a missing pair, an unreadable file or a bad token.
 */
export function clientSecurity(
  values: SecurityValues,
  env: NodeJS.ProcessEnv,
  fail: (message: string) => Error,
): ClientSecurity {
  const ca = setting('--ca', values.ca, 'RSTSCOPE_CA', env);
  const cert = setting('--cert', values.cert, 'RSTSCOPE_CERT', env);
  const key = setting('--key', values.key, 'RSTSCOPE_KEY', env);
  const serverName = setting('--server-name', values['server-name'], 'RSTSCOPE_SERVER_NAME', env);
  if ((cert === undefined) !== (key === undefined)) {
    throw fail(
      '--cert and --key go together: the client certificate and its private key, PEM ' +
        '(or RSTSCOPE_CERT and RSTSCOPE_KEY)',
    );
  }
  if (serverName !== undefined && !/^[A-Za-z0-9.-]+$/.test(serverName.value)) {
    throw fail(`${serverName.label}: expected a DNS name, e.g. collector.example.com`);
  }
  try {
    const wantsTls = values.tls === true || ca || cert || serverName;
    const tls: ClientTls | undefined = wantsTls
      ? {
          ca: ca && readCertificates(ca.value, ca.label),
          keyPair:
            cert && key && readKeyPair(cert.value, key.value, { cert: cert.label, key: key.label }),
          serverName: serverName?.value,
        }
      : undefined;
    const token =
      values['token-file'] !== undefined
        ? readTokenFile(values['token-file'])
        : env[TOKEN_ENV] !== undefined
          ? checkToken(env[TOKEN_ENV], TOKEN_ENV)
          : undefined;
    return { tls, token };
  } catch (err) {
    if (err instanceof TlsFileError || err instanceof TokenError) throw fail(err.message);
    throw err;
  }
}

/** The grpc-js credentials and channel options for `tls` (plain text without it). */
export function channelSecurity(tls: ClientTls | undefined): {
  credentials: ChannelCredentials;
  options: ChannelOptions;
} {
  if (!tls) return { credentials: grpcCredentials.createInsecure(), options: {} };
  return {
    credentials: grpcCredentials.createSsl(
      tls.ca ?? null,
      tls.keyPair?.key ?? null,
      tls.keyPair?.cert ?? null,
    ),
    options:
      tls.serverName === undefined ? {} : { 'grpc.ssl_target_name_override': tls.serverName },
  };
}

/**
 * One line for a connection that failed in its handshake, or undefined when
 * the failure was something else. The patterns are what grpc-js 1.14 on Node
 * 20 reports (test/query-security.test.ts provokes each one): OpenSSL's
 * alerts and Node's verification errors inside an UNAVAILABLE detail, and a
 * bare "Failed to connect" when the server hung up without a word.
 */
export function handshakeFailure(
  details: string,
  tls: ClientTls | undefined,
  address: string,
): string | undefined {
  const hungUp = /Failed to connect/.test(details);
  if (!tls) {
    // A TLS server reads the plain-text HTTP/2 preface as a broken record and closes.
    return hungUp
      ? `the collector at ${address} closed a plain-text connection: it serves TLS; ` +
          'add --ca FILE (the CA that issued its certificate) or --tls (a public CA)'
      : undefined;
  }
  if (/wrong version number|packet length too long|unknown protocol/.test(details)) {
    return (
      `the collector at ${address} does not speak TLS: drop --tls, --ca, --cert and --server-name ` +
      '(and RSTSCOPE_CA, RSTSCOPE_CERT), or start the collector with --tls-cert and --tls-key'
    );
  }
  const mismatch =
    /Hostname\/IP does not match certificate's altnames: ([^\n]*?)\.?(?:\n|\. Resolution note|$)/.exec(
      details,
    );
  if (mismatch) {
    return (
      `the collector's certificate at ${address} is not for this name (${mismatch[1]}): ` +
      'dial a name it carries with --server, or pass --server-name NAME'
    );
  }
  const untrusted =
    /unable to verify the first certificate|self[- ]signed certificate|unable to get (?:local )?issuer certificate|certificate signature failure/.exec(
      details,
    );
  if (untrusted) {
    return (
      `the collector's certificate at ${address} is not signed by a CA this client trusts (${untrusted[0]}): ` +
      `pass --ca FILE with the CA that issued the collector's --tls-cert`
    );
  }
  const dated = /certificate has expired|certificate is not yet valid/.exec(details);
  if (dated) {
    return `the collector's certificate at ${address}: ${dated[0]}; renew the collector's --tls-cert (or check the clocks)`;
  }
  if (/certificate required|peer did not return a certificate/.test(details)) {
    return (
      `the collector at ${address} requires a client certificate (mutual TLS): ` +
      "pass --cert FILE --key FILE issued by a CA in the collector's --tls-client-ca"
    );
  }
  // Under TLS 1.3 the client finishes its handshake before the server checks
  // the client's certificate, so a refusal arrives as a closed connection.
  if (tls.keyPair && (hungUp || /unknown ca|bad certificate|certificate unknown/.test(details))) {
    return (
      `the collector at ${address} refused this client certificate: ` +
      "--cert must be issued by a CA in the collector's --tls-client-ca"
    );
  }
  return undefined;
}

interface Setting {
  value: string;
  /** The flag or variable and its value, as errors name it. */
  label: string;
}

function setting(
  flag: string,
  value: string | undefined,
  variable: string,
  env: NodeJS.ProcessEnv,
): Setting | undefined {
  if (value !== undefined) return { value, label: `${flag} ${value}` };
  const fromEnv = env[variable];
  return fromEnv === undefined || fromEnv === ''
    ? undefined
    : { value: fromEnv, label: `${variable} ${fromEnv}` };
}
