// The flags agent and collector share to find the Kubernetes API. In a pod
// nothing needs saying (the service account kubelet mounts); outside one, or
// against `kubectl proxy` or a test double, --kube-api names the server.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { fixedToken, inClusterConfig, tokenFile } from './kube-config.js';
import type { InClusterOptions, KubeConfig } from './kube-config.js';
import { KubeConfigError } from './kube-errors.js';

export const KUBE_MODES = ['auto', 'on', 'off'] as const;
export type KubeMode = (typeof KUBE_MODES)[number];

/** node:util parseArgs options. */
export const KUBE_OPTIONS = {
  kube: { type: 'string', default: 'auto' },
  'kube-api': { type: 'string' },
  'kube-token-file': { type: 'string' },
  'kube-ca': { type: 'string' },
} as const;

export const KUBE_USAGE = `  --kube auto|on|off       name pods, services and nodes from the Kubernetes API
                           (auto: when running in a pod or --kube-api is given)
  --kube-api URL           the API server (default: the pod's service account)
  --kube-token-file FILE   bearer token for --kube-api, read again as it rotates
  --kube-ca FILE           PEM CA for --kube-api's certificate`;

export interface KubeFlags {
  kube?: string;
  'kube-api'?: string;
  'kube-token-file'?: string;
  'kube-ca'?: string;
}

/**
 * Where the API is, or undefined when attribution is off (or auto outside a
 * pod). Throws KubeConfigError with one line when the flags cannot work.
 */
export function kubeConfigFromFlags(
  flags: KubeFlags,
  env: NodeJS.ProcessEnv = process.env,
  inCluster: Omit<InClusterOptions, 'env'> = {},
): KubeConfig | undefined {
  const mode = kubeMode(flags.kube);
  if (mode === 'off') {
    const given = (['kube-api', 'kube-token-file', 'kube-ca'] as const).find((f) => flags[f]);
    if (given) throw new KubeConfigError(`--${given} has no effect with --kube off: drop one`);
    return undefined;
  }
  if (flags['kube-api'] !== undefined) return explicitConfig(flags);
  for (const f of ['kube-token-file', 'kube-ca'] as const) {
    if (flags[f] !== undefined) {
      throw new KubeConfigError(`--${f} needs --kube-api: in a pod the service account is used`);
    }
  }
  if (mode === 'auto' && !env.KUBERNETES_SERVICE_HOST) return undefined;
  return inClusterConfig({ ...inCluster, env });
}

function kubeMode(value: string | undefined): KubeMode {
  const mode = value ?? 'auto';
  if (!(KUBE_MODES as readonly string[]).includes(mode)) {
    throw new KubeConfigError(`--kube ${mode}: expected ${KUBE_MODES.join(', ')}`);
  }
  return mode as KubeMode;
}

function explicitConfig(flags: KubeFlags): KubeConfig {
  const text = flags['kube-api']!;
  let server: URL;
  try {
    server = new URL(text);
  } catch {
    throw new KubeConfigError(
      `--kube-api ${text}: not a URL (expected https://HOST:PORT or http://127.0.0.1:PORT)`,
    );
  }
  if (server.protocol !== 'https:' && server.protocol !== 'http:') {
    throw new KubeConfigError(`--kube-api ${text}: expected an https:// or http:// URL`);
  }
  const tokenPath = flags['kube-token-file'];
  // A bearer token is a credential: never across a network in clear text.
  if (server.protocol === 'http:' && tokenPath !== undefined && !isLoopback(server.hostname)) {
    throw new KubeConfigError(
      `--kube-api ${text}: a token would cross the network in clear text; use https://`,
    );
  }
  const config: KubeConfig = {
    server,
    token: tokenPath === undefined ? fixedToken(undefined) : tokenFile(tokenPath),
  };
  const caPath = flags['kube-ca'];
  if (caPath !== undefined) {
    try {
      config.ca = readFileSync(caPath);
    } catch (err) {
      throw new KubeConfigError(
        `--kube-ca ${caPath}: cannot read it (${(err as NodeJS.ErrnoException).code ?? err})`,
        { cause: err },
      );
    }
  }
  return config;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
