// Where the API server is and how to prove who we are. In a pod that is the
// service account kubelet mounts; outside one (tests, the double) it is explicit.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { KubeConfigError } from './kube-errors.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Bound service-account tokens expire (an hour by default) and kubelet rewrites
 * the file well before that, so the file is read again this often, as client-go does.
 */
export const DEFAULT_TOKEN_REFRESH_MS = 60_000;

export interface KubeConfig {
  /** https://10.96.0.1:443 in a cluster. */
  server: URL;
  /** The bearer token to send now; undefined sends none. */
  token: TokenSource;
  /** PEM trust anchors for the server's certificate (the service account's ca.crt). */
  ca?: Buffer;
}

export interface TokenSource {
  current(): string | undefined;
  /** Read the token again now: after a 401 the file may already hold a new one. */
  reload(): string | undefined;
}

/** A token that never changes (tests; a kubeconfig's static token). */
export function fixedToken(token: string | undefined): TokenSource {
  return { current: () => token, reload: () => token };
}

/** The token in `file`, read again when older than `refreshMs` and whenever reload() asks. */
export function tokenFile(
  file: string,
  refreshMs = DEFAULT_TOKEN_REFRESH_MS,
  now: () => number = Date.now,
): TokenSource {
  let token = readToken(file);
  let readAt = now();
  const reload = () => {
    token = readToken(file);
    readAt = now();
    return token;
  };
  return {
    current: () => (now() - readAt >= refreshMs ? reload() : token),
    reload,
  };
}

export interface InClusterOptions {
  env?: NodeJS.ProcessEnv;
  /** Where the service account is mounted; tests point it at a temp dir. */
  serviceAccountDir?: string;
  tokenRefreshMs?: number;
}

/** The config a pod gets from kubelet: KUBERNETES_SERVICE_HOST/PORT and the mounted service account. */
export function inClusterConfig(options: InClusterOptions = {}): KubeConfig {
  const env = options.env ?? process.env;
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new KubeConfigError(
      'not in a Kubernetes pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset (run in a pod, or give the API URL explicitly)',
    );
  }
  // An IPv6-only cluster gives a bare IPv6 address, which a URL must bracket.
  const server = new URL(`https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`);
  const caFile = join(dir, 'ca.crt');
  let ca: Buffer;
  try {
    ca = readFileSync(caFile);
  } catch (err) {
    throw new KubeConfigError(
      `${caFile}: cannot read the cluster CA (${errnoText(err)}); is automountServiceAccountToken false?`,
      { cause: err },
    );
  }
  return { server, ca, token: tokenFile(join(dir, 'token'), options.tokenRefreshMs) };
}

function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KubeConfigError(
      `${file}: cannot read the service account token (${errnoText(err)})`,
      { cause: err },
    );
  }
  const token = text.trim();
  if (token === '') throw new KubeConfigError(`${file}: the service account token is empty`);
  return token;
}

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  return code ?? String(err);
}
