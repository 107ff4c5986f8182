// The collector's settings: one type, a documented default on every field, one
// loader that validates flags and environment.
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KUBE_OPTIONS, KUBE_USAGE, KubeConfigError, kubeConfigFromFlags } from '../k8s/index.js';
import type { KubeConfig } from '../k8s/index.js';
import {
  NATS_AUTH_FLAGS_USAGE,
  NATS_AUTH_OPTIONS,
  NatsAuthConfigError,
  natsAuthFromFlags,
} from '../proto/nats-auth-options.js';
import type { NatsAuth } from '../proto/nats-auth-options.js';
import {
  DEFAULT_DURABLE,
  MAX_MESSAGE_BYTES,
  NATS_URL_FORM,
  splitNatsServers,
} from '../proto/nats-topology.js';
import { CollectorConfigError } from './errors.js';
import { DEFAULT_INGEST_LIMITS } from './ingest/ingester.js';
import type { IngestLimits } from './ingest/ingester.js';
import { InventoryError, loadInventory } from './k8s/inventory.js';
import type { Inventory } from './k8s/inventory.js';
import { DEFAULT_ACK_WAIT_MS } from './nats-intake.js';
import { HOST_PORT_FORM, parseHostPort } from './query/host-port.js';
import { DEFAULT_QUERY_ADDRESS } from './query/query-limits.js';
import { isLoopback } from './query/server-security.js';
import type { QuerySecurityConfig } from './query/server-security.js';
import { checkToken, TOKEN_ENV, TokenError } from './query/token-file.js';
import { DEFAULT_DATABASE, DEFAULT_RETENTION_DAYS, DEFAULT_USER } from './storage/open-storage.js';
import { ROLE_OPTIONS, ROLE_USAGE, roleConfig } from './storage/role-config.js';
import type { RoleConfig } from './storage/role-config.js';
import type { StorageOptions } from './storage/storage.js';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_DATA_DIR = '/var/lib/rstscope';

export interface CollectorConfig {
  /** NATS servers (default nats://127.0.0.1:4222; env RSTSCOPE_NATS). */
  nats: string[];
  /** TLS and credentials for NATS (default none; docs/security.md). */
  natsAuth: NatsAuth;
  /** The durable consumer all collectors share (default rstscope-collector). */
  durable: string;
  /** Where the gRPC query service listens (default 127.0.0.1:7470). */
  listen: string;
  /** TLS, mutual TLS and bearer token of the query service (default: none of them). */
  querySecurity: QuerySecurityConfig;
  /** ClickHouse: a server when url is set (env CLICKHOUSE_URL), else chDB under dataDir. */
  storage: StorageOptions;
  /** ClickHouse users per job and --migrate-only (default: one user does all; see role-config.ts). */
  roles: RoleConfig;
  /** Insert when this many rows wait (default 50000) or the oldest waited maxDelayMs (1000). */
  ingest: IngestLimits;
  /** Larger messages are dead-lettered (default 1 MiB, NATS's own max_payload). */
  maxMessageBytes: number;
  /** Unacked messages go to another collector after this long (default 30 s; set when the consumer is created). */
  ackWaitMs: number;
  /** The Kubernetes API to name pods, services and nodes from (default: in a pod, its own; else none). */
  kube?: KubeConfig;
  /** Names for addresses outside Kubernetes (--inventory FILE; default none). */
  inventory?: Inventory;
}

export const COLLECTOR_USAGE = `usage: rstscope collector [--nats URL[,URL]] [--listen HOST:PORT]
                          [--nats-ca FILE] [--nats-cert FILE --nats-key FILE]
                          [--nats-nkey FILE | --nats-user NAME [--nats-password-file FILE]]
                          [--data-dir DIR] [--clickhouse-url URL] [--clickhouse-user USER]
                          [--clickhouse-database DB] [--clickhouse-ca FILE]
                          [--clickhouse-cert FILE --clickhouse-key FILE]
                          [--retention-days N] [--durable NAME]
                          [--max-insert-rows N] [--max-insert-delay-ms N]
                          [--max-message-bytes N] [--ack-wait-ms N]
                          [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
                          [--token-file FILE] [--allow-plaintext-token]
                          [--kube auto|on|off] [--kube-api URL] [--kube-token-file FILE]
                          [--kube-ca FILE] [--inventory FILE]

Stores every reset the agents publish on NATS JetStream in ClickHouse, and serves
read-only queries over gRPC.
  --nats URL          NATS servers (default ${DEFAULT_NATS_URL}; env RSTSCOPE_NATS)
  --listen HOST:PORT  gRPC query service (default ${DEFAULT_QUERY_ADDRESS})
  --data-dir DIR      embedded ClickHouse (chDB) data under DIR/clickhouse, used when no
                      --clickhouse-url is given (default ${DEFAULT_DATA_DIR})
  --clickhouse-url URL  a ClickHouse server, http(s)://HOST:PORT (env CLICKHOUSE_URL);
                      the password comes from env CLICKHOUSE_PASSWORD
${ROLE_USAGE}
  --retention-days N  rows older than N days are dropped (default ${DEFAULT_RETENTION_DAYS})
  --durable NAME      the JetStream consumer shared by all collectors (default ${DEFAULT_DURABLE})
  --max-insert-rows N / --max-insert-delay-ms N
                      insert at N rows or after N ms (default ${DEFAULT_INGEST_LIMITS.maxRows} / ${DEFAULT_INGEST_LIMITS.maxDelayMs})
  --max-message-bytes N  larger messages are dead-lettered (default ${MAX_MESSAGE_BYTES})
  --ack-wait-ms N     redeliver what a dead collector pulled after N ms (default ${DEFAULT_ACK_WAIT_MS};
                      applies when the consumer is created)

Securing NATS (docs/security.md):
${NATS_AUTH_FLAGS_USAGE}

Securing the query service (files are read at startup; restart to rotate them):
  --tls-cert FILE --tls-key FILE
                      serve TLS with this certificate (chain) and private key, PEM
  --tls-client-ca FILE  mutual TLS: require a client certificate issued by a CA in FILE
  --token-file FILE   require 'authorization: Bearer <token>' with the token in FILE
                      (env ${TOKEN_ENV}: the token itself); health checks stay open
  --allow-plaintext-token
                      accept a token without TLS on a non-loopback --listen, when TLS
                      ends in front of the collector (a mesh sidecar, a load balancer)

Naming both ends of every reset as it is stored (pods, services, nodes; the
addresses table keeps who an address was, and when):
${KUBE_USAGE}
  --inventory FILE         names for addresses and CIDRs outside Kubernetes, JSON:
                           {"entries": [{"address": "10.0.0.1", "name": "nat-gw-1",
                           "kind": "middlebox"}, ...]} (kinds: host, service, middlebox)`;

export function loadCollectorConfig(argv: string[], env: NodeJS.ProcessEnv): CollectorConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        nats: { type: 'string' },
        listen: { type: 'string', default: DEFAULT_QUERY_ADDRESS },
        'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
        'clickhouse-url': { type: 'string' },
        'clickhouse-user': { type: 'string' },
        'clickhouse-database': { type: 'string', default: DEFAULT_DATABASE },
        'clickhouse-ca': { type: 'string' },
        'clickhouse-cert': { type: 'string' },
        'clickhouse-key': { type: 'string' },
        'retention-days': { type: 'string', default: String(DEFAULT_RETENTION_DAYS) },
        durable: { type: 'string', default: DEFAULT_DURABLE },
        'max-insert-rows': { type: 'string', default: String(DEFAULT_INGEST_LIMITS.maxRows) },
        'max-insert-delay-ms': {
          type: 'string',
          default: String(DEFAULT_INGEST_LIMITS.maxDelayMs),
        },
        'max-message-bytes': { type: 'string', default: String(MAX_MESSAGE_BYTES) },
        'ack-wait-ms': { type: 'string', default: String(DEFAULT_ACK_WAIT_MS) },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-client-ca': { type: 'string' },
        'token-file': { type: 'string' },
        'allow-plaintext-token': { type: 'boolean', default: false },
        ...NATS_AUTH_OPTIONS,
        ...KUBE_OPTIONS,
        ...ROLE_OPTIONS,
        inventory: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    // parseArgs explains an ambiguous option over three lines: one line here.
    const message = (err as Error).message.replace(/\s*\n\s*/g, ' ');
    throw new CollectorConfigError(`${message}; see 'rstscope collector --help'`, { cause: err });
  }
  const url = values['clickhouse-url'] ?? env.CLICKHOUSE_URL;
  if (url !== undefined && !/^https?:\/\/[^/\s]+/.test(url)) {
    throw new CollectorConfigError(`--clickhouse-url ${url}: expected http(s)://HOST:PORT`);
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(values['clickhouse-database'])) {
    throw new CollectorConfigError(
      `--clickhouse-database ${values['clickhouse-database']}: expected letters, digits and _`,
    );
  }
  if (Boolean(values['clickhouse-cert']) !== Boolean(values['clickhouse-key'])) {
    throw new CollectorConfigError('--clickhouse-cert and --clickhouse-key go together');
  }
  if (!/^[A-Za-z0-9_-]+$/.test(values.durable)) {
    throw new CollectorConfigError(
      `--durable ${values.durable}: expected letters, digits, _ and -`,
    );
  }
  const ackWaitMs = positiveInt('--ack-wait-ms', values['ack-wait-ms'], 3_600_000);
  const tls =
    values['clickhouse-ca'] || values['clickhouse-cert']
      ? {
          caFile: values['clickhouse-ca'],
          certFile: values['clickhouse-cert'],
          keyFile: values['clickhouse-key'],
        }
      : undefined;
  const nats = natsServers(values.nats ?? env.RSTSCOPE_NATS ?? DEFAULT_NATS_URL);
  return {
    nats,
    natsAuth: natsAuth(values, env, nats),
    durable: values.durable,
    listen: hostPort('--listen', values.listen),
    querySecurity: querySecurity(values, env),
    storage: {
      url,
      user: values['clickhouse-user'] ?? env.CLICKHOUSE_USER ?? DEFAULT_USER,
      password: env.CLICKHOUSE_PASSWORD ?? '',
      database: values['clickhouse-database'],
      tls,
      dataDir: join(resolve(values['data-dir']), 'clickhouse'),
      retentionDays: positiveInt('--retention-days', values['retention-days'], 3650),
    },
    roles: roleConfig(values, env, url),
    ingest: {
      maxRows: positiveInt('--max-insert-rows', values['max-insert-rows'], 1_000_000),
      maxDelayMs: positiveInt('--max-insert-delay-ms', values['max-insert-delay-ms'], 60_000),
      workingEveryMs: Math.max(100, Math.floor(ackWaitMs / 3)),
    },
    maxMessageBytes: positiveInt('--max-message-bytes', values['max-message-bytes'], 64 << 20),
    ackWaitMs,
    kube: kubeConfig(values, env),
    inventory: values.inventory === undefined ? undefined : inventory(values.inventory),
  };
}

function kubeConfig(flags: Parameters<typeof kubeConfigFromFlags>[0], env: NodeJS.ProcessEnv) {
  try {
    return kubeConfigFromFlags(flags, env);
  } catch (err) {
    if (err instanceof KubeConfigError) throw new CollectorConfigError(err.message, { cause: err });
    throw err;
  }
}

function natsAuth(
  flags: Parameters<typeof natsAuthFromFlags>[0],
  env: NodeJS.ProcessEnv,
  servers: string[],
): NatsAuth {
  try {
    return natsAuthFromFlags(flags, env, servers);
  } catch (err) {
    if (err instanceof NatsAuthConfigError) {
      throw new CollectorConfigError(err.message, { cause: err });
    }
    throw err;
  }
}

/** Read at startup: a bad file stops the collector with one line naming the file and line. */
function inventory(file: string): Inventory {
  try {
    return loadInventory(file);
  } catch (err) {
    if (err instanceof InventoryError) {
      throw new CollectorConfigError(`--inventory ${err.message}`, { cause: err });
    }
    throw err;
  }
}

function querySecurity(
  values: {
    listen: string;
    'tls-cert'?: string;
    'tls-key'?: string;
    'tls-client-ca'?: string;
    'token-file'?: string;
    'allow-plaintext-token': boolean;
  },
  env: NodeJS.ProcessEnv,
): QuerySecurityConfig {
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  const clientCaFile = values['tls-client-ca'];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new CollectorConfigError(
      '--tls-cert and --tls-key go together: the certificate and its private key, PEM',
    );
  }
  if (clientCaFile !== undefined && certFile === undefined) {
    throw new CollectorConfigError(
      '--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS that also checks the client',
    );
  }
  const tls = certFile !== undefined && keyFile !== undefined;
  let token: QuerySecurityConfig['token'];
  if (values['token-file'] !== undefined) token = { file: values['token-file'] };
  else if (env[TOKEN_ENV] !== undefined) token = { value: envToken(env[TOKEN_ENV]) };
  const allowPlaintextToken = values['allow-plaintext-token'];
  // A bearer token in clear text is as good as published to anyone on the path.
  if (token && !tls && !allowPlaintextToken && !isLoopback(values.listen)) {
    throw new CollectorConfigError(
      `a bearer token on --listen ${values.listen} without TLS would cross the network in clear text: ` +
        'add --tls-cert and --tls-key, or --allow-plaintext-token if TLS ends in front of the collector',
    );
  }
  return {
    tls: tls ? { certFile, keyFile, clientCaFile } : undefined,
    token,
    allowPlaintextToken,
  };
}

function envToken(value: string): string {
  try {
    return checkToken(value, TOKEN_ENV);
  } catch (err) {
    if (err instanceof TokenError) throw new CollectorConfigError(err.message, { cause: err });
    throw err;
  }
}

function positiveInt(flag: string, text: string, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new CollectorConfigError(`${flag} ${text}: expected a whole number from 1 to ${max}`);
  }
  return n;
}

/** The same rule the query server listens by, checked at startup. */
function hostPort(flag: string, text: string): string {
  if (!parseHostPort(text)) {
    throw new CollectorConfigError(`${flag} ${text}: expected ${HOST_PORT_FORM}`);
  }
  return text;
}

function natsServers(spec: string): string[] {
  const { servers, invalid } = splitNatsServers(spec);
  if (invalid !== undefined || !servers.length) {
    throw new CollectorConfigError(`--nats ${invalid ?? spec}: expected ${NATS_URL_FORM}`);
  }
  return servers;
}
