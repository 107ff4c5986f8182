// How the query service protects itself: TLS from PEM files, client
// certificates (mutual TLS), and a bearer token. The files are read once, at
// startup; rotating a certificate means restarting the collector.
import { ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { parseHostPort } from './host-port.js';
import { readCertificates, readKeyPair } from '../../proto/pem-files.js';
import { readTokenFile } from './token-file.js';

export interface QuerySecurityConfig {
  /** Serve TLS with this certificate (chain) and key, PEM (default: none, plain text). */
  tls?: {
    certFile: string;
    keyFile: string;
    /** Require client certificates issued by these CAs: mutual TLS (default: none). */
    clientCaFile?: string;
  };
  /**
   * Require `authorization: Bearer <token>` on every call but health checks
   * (default: none): from a file read at startup, or the value of $RSTSCOPE_TOKEN.
   */
  token?: { file: string } | { value: string };
  /**
   * Accept a token without TLS on an address other than loopback, where it crosses
   * the network in clear text: only when TLS ends in front of the collector
   * (a service mesh sidecar, a load balancer) (default false).
   */
  allowPlaintextToken: boolean;
}

/** What startQueryServer takes: QueryServerOptions' credentials and token. */
export interface QuerySecurity {
  credentials?: ServerCredentials;
  token?: string;
}

/**
 * Reads the certificate, key, client CA and token files; a file that cannot be
 * read or parsed throws TlsFileError or TokenError, one line naming the file.
 */
export function loadQuerySecurity(
  config: QuerySecurityConfig,
  listen: string,
  log: Logger,
): QuerySecurity {
  const credentials = config.tls && serverCredentials(config.tls);
  const token =
    config.token &&
    ('file' in config.token ? readTokenFile(config.token.file) : config.token.value);
  const exposed = !isLoopback(listen);
  log.info(
    {
      listen,
      tls: Boolean(credentials),
      client_certificates: Boolean(config.tls?.clientCaFile),
      token: token !== undefined,
    },
    `query service security: ${describe(config, token !== undefined)}`,
  );
  if (exposed && !credentials) {
    log.warn(
      { listen },
      token === undefined
        ? 'query service reachable from the network without TLS or token: anyone who can connect can read every stored reset; add --tls-cert/--tls-key and --token-file'
        : 'bearer token accepted in clear text on a network address (--allow-plaintext-token): anyone on the path can read it; make sure TLS ends in front of the collector',
    );
  }
  return { credentials, token };
}

/** Loopback names and addresses: traffic that never leaves the host. */
export function isLoopback(listen: string): boolean {
  const host = parseHostPort(listen)?.host.toLowerCase() ?? '';
  return (
    host === 'localhost' ||
    host === '::1' ||
    /^127\.\d+\.\d+\.\d+$/.test(host) ||
    /^::ffff:127\.\d+\.\d+\.\d+$/.test(host)
  );
}

function serverCredentials(tls: NonNullable<QuerySecurityConfig['tls']>): ServerCredentials {
  const { cert, key } = readKeyPair(tls.certFile, tls.keyFile, {
    cert: `--tls-cert ${tls.certFile}`,
    key: `--tls-key ${tls.keyFile}`,
  });
  const clientCa =
    tls.clientCaFile === undefined
      ? null
      : readCertificates(tls.clientCaFile, `--tls-client-ca ${tls.clientCaFile}`);
  return ServerCredentials.createSsl(
    clientCa,
    [{ cert_chain: cert, private_key: key }],
    clientCa !== null,
  );
}

function describe(config: QuerySecurityConfig, token: boolean): string {
  const transport = !config.tls
    ? 'plain text'
    : config.tls.clientCaFile
      ? 'mutual TLS (client certificates required)'
      : 'TLS';
  return `${transport}, ${token ? 'bearer token required (not for health checks)' : 'no token'}`;
}
