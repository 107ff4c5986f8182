// The agent's settings: one type, a documented default on every field, and
// one loader that validates flags and environment.
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { KubeConfig } from '../k8s/index.js';
import { KUBE_OPTIONS, KUBE_USAGE, kubeConfigFromFlags } from '../k8s/kube-flags.js';
import {
  NATS_AUTH_FLAGS_USAGE,
  NATS_AUTH_OPTIONS,
  NatsAuthConfigError,
  natsAuthFromFlags,
} from '../proto/nats-auth-options.js';
import type { NatsAuth } from '../proto/nats-auth-options.js';
import { HOST_NAME, NATS_URL_FORM, splitNatsServers } from '../proto/nats-topology.js';
import { AgentConfigError } from './errors.js';
import { DEFAULT_BATCH_MAX_DELAY_MS } from './publish/batch-builder.js';
import { DEFAULT_OUTBOX_MAX_BYTES } from './publish/outbox.js';
import { repoRoot } from './repo-root.js';

export const DEFAULT_RINGBUF_MB = 8;
/** Storm aggregates the kernel keeps between two drains (the loader's own default and bounds). */
export const DEFAULT_AGGREGATE_SLOTS = 4096;
const MIN_AGGREGATE_SLOTS = 16;
const MAX_AGGREGATE_SLOTS = 65_536;
/** 1 TiB: far beyond any memory an agent may hold, still exact in bytes. */
const MAX_BUFFER_KB = 1 << 30;
const MAX_DURATION_S = Math.floor((2 ** 31 - 1) / 1000);
export const DEFAULT_LOADER_PATH = join(repoRoot(), 'build', 'rstscope-loader');

// A DNS subdomain (RFC 1123), as Kubernetes requires of node names.
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface AgentConfig {
  /** One JSON object per reset on stdout (default: one readable line). */
  json: boolean;
  /** Namespaces this agent covers, as NAME, PATH or INODE (default: all of the host). */
  netns: string[];
  /** Host name reported with every event (default: the kernel's host name; env NODE_NAME). */
  host: string | undefined;
  /** Kernel ring buffer size in MiB, a power of two (default 8: ~40k events of slack). */
  ringbufMb: number;
  /** Storm aggregate slots in the kernel (docs/storage.md, reset_aggregates). */
  aggregateSlots: number;
  /** Stop after this many seconds (default 0: until SIGINT/SIGTERM). */
  durationS: number;
  /** The native loader (default build/rstscope-loader; env RSTSCOPE_LOADER). */
  loaderPath: string;
  /** Act as on a kernel whose tcp_send_reset has no reason (default false; for tests). */
  assumeNoReason: boolean;
  /** NATS servers to publish to (default none: print only; env RSTSCOPE_NATS). */
  nats: string[];
  /** TLS and credentials for NATS (default none; docs/security.md). */
  natsAuth: NatsAuth;
  /** Bytes of batches held while NATS is unreachable (default 64 MiB). */
  bufferBytes: number;
  /** Longest a reset waits in a partial batch, ms (default 200). */
  batchDelayMs: number;
  /**
   * The Kubernetes API that names pods (default: in a pod its service account,
   * else none; --kube, --kube-api). Undefined: resets carry no pod names.
   */
  kube: KubeConfig | undefined;
  /** This node as the API names it (default $NODE_NAME, else the host name in lower case). */
  nodeName: string;
  /** The host's cgroup v2 mount (default: this process's cgroup2 mount, found in mountinfo). */
  cgroupRoot: string | undefined;
}

export const AGENT_USAGE = `usage: rstscope agent [--json] [--netns NAME|PATH|INODE]... [--host NAME]
                      [--ringbuf-mb N] [--duration SECONDS]
                      [--nats URL[,URL]] [--buffer-kb N] [--batch-delay-ms N]
                      [--nats-ca FILE] [--nats-cert FILE --nats-key FILE]
                      [--nats-nkey FILE | --nats-user NAME [--nats-password-file FILE]]
                      [--kube auto|on|off] [--kube-api URL] [--node-name NAME]
                      [--cgroup-root PATH]

Captures every TCP reset this host's kernel sends or receives: printed, or with
--nats published to JetStream (rstscope.v1.resets.<host>) for the collector.
  --json            one JSON object per reset (snake_case fields, as stored);
                    with --nats, printed besides publishing
  --nats URL        publish to these NATS servers (env RSTSCOPE_NATS)
  --buffer-kb N     batches held while NATS is unreachable (default ${DEFAULT_OUTBOX_MAX_BYTES / 1024})
  --batch-delay-ms N  longest a reset waits for its batch (default ${DEFAULT_BATCH_MAX_DELAY_MS})
  --netns NS        only these network namespaces (repeatable); default all
  --host NAME       host name in the records (default: $NODE_NAME or the host name)
  --ringbuf-mb N    kernel ring buffer in MiB, power of two (default ${DEFAULT_RINGBUF_MB})
  --aggregate-slots N  storm aggregates kept in the kernel per second, ${MIN_AGGREGATE_SLOTS} to ${MAX_AGGREGATE_SLOTS} (default ${DEFAULT_AGGREGATE_SLOTS})
  --duration S      stop after S seconds (default: until Ctrl-C)
  --assume-no-reason  report reasons as UNKNOWN, as an older kernel would (testing)
Securing NATS (docs/security.md):
${NATS_AUTH_FLAGS_USAGE}
Kubernetes (each reset named with its pod, container and workload):
${KUBE_USAGE}
  --node-name NAME         this node as the API names it (default: $NODE_NAME or the host name)
  --cgroup-root PATH       the host's cgroup v2 mount (default: this process's; in a pod
                           mount the host's /sys/fs/cgroup read-only and name it here)`;

export function loadAgentConfig(argv: string[], env: NodeJS.ProcessEnv): AgentConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean', default: false },
        netns: { type: 'string', multiple: true, default: [] },
        host: { type: 'string' },
        'ringbuf-mb': { type: 'string', default: String(DEFAULT_RINGBUF_MB) },
        'aggregate-slots': { type: 'string', default: String(DEFAULT_AGGREGATE_SLOTS) },
        duration: { type: 'string', default: '0' },
        'assume-no-reason': { type: 'boolean', default: false },
        nats: { type: 'string' },
        'buffer-kb': { type: 'string', default: String(DEFAULT_OUTBOX_MAX_BYTES / 1024) },
        'batch-delay-ms': { type: 'string', default: String(DEFAULT_BATCH_MAX_DELAY_MS) },
        ...NATS_AUTH_OPTIONS,
        ...KUBE_OPTIONS,
        'node-name': { type: 'string' },
        'cgroup-root': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    // parseArgs explains an ambiguous option over three lines: one line here.
    const message = (err as Error).message.replace(/\s*\n\s*/g, ' ');
    throw new AgentConfigError(`${message}; see 'rstscope agent --help'`, { cause: err });
  }
  const ringbufMb = Number(values['ringbuf-mb']);
  if (
    !Number.isInteger(ringbufMb) ||
    ringbufMb < 1 ||
    ringbufMb > 1024 ||
    ringbufMb & (ringbufMb - 1)
  ) {
    throw new AgentConfigError(
      `--ringbuf-mb ${values['ringbuf-mb']}: expected a power of two from 1 to 1024`,
    );
  }
  const aggregateSlots = Number(values['aggregate-slots']);
  if (
    !Number.isInteger(aggregateSlots) ||
    aggregateSlots < MIN_AGGREGATE_SLOTS ||
    aggregateSlots > MAX_AGGREGATE_SLOTS
  ) {
    throw new AgentConfigError(
      `--aggregate-slots ${values['aggregate-slots']}: expected a whole number from ${MIN_AGGREGATE_SLOTS} to ${MAX_AGGREGATE_SLOTS}`,
    );
  }
  const durationS = Number(values.duration);
  if (!Number.isFinite(durationS) || durationS < 0) {
    throw new AgentConfigError(`--duration ${values.duration}: expected seconds, 0 or more`);
  }
  // The stop timer holds at most 2^31 - 1 ms; Node fires a longer one at once.
  if (durationS > MAX_DURATION_S) {
    throw new AgentConfigError(
      `--duration ${values.duration}: expected at most ${MAX_DURATION_S} seconds (24 days)`,
    );
  }
  const host = values.host ?? env.NODE_NAME;
  if (host !== undefined && !HOST_NAME.test(host)) {
    throw new AgentConfigError(
      `--host ${host}: expected a DNS-style name (letters, digits, . _ -)`,
    );
  }
  const { servers: nats, invalid } = splitNatsServers(values.nats ?? env.RSTSCOPE_NATS ?? '');
  if (invalid !== undefined) {
    throw new AgentConfigError(`--nats ${invalid}: expected ${NATS_URL_FORM}`);
  }
  const natsAuth = agentNatsAuth(values, env, nats);
  const bufferKb = Number(values['buffer-kb']);
  // Bounded so the byte count stays an exact number (1e308 KiB was Infinity bytes).
  if (!Number.isInteger(bufferKb) || bufferKb < 1 || bufferKb > MAX_BUFFER_KB) {
    throw new AgentConfigError(
      `--buffer-kb ${values['buffer-kb']}: expected a whole number of KiB from 1 to ${MAX_BUFFER_KB}`,
    );
  }
  const batchDelayMs = Number(values['batch-delay-ms']);
  if (!Number.isInteger(batchDelayMs) || batchDelayMs < 1 || batchDelayMs > 60_000) {
    throw new AgentConfigError(`--batch-delay-ms ${values['batch-delay-ms']}: expected 1 to 60000`);
  }
  let kube: KubeConfig | undefined;
  try {
    kube = kubeConfigFromFlags(values, env);
  } catch (err) {
    throw new AgentConfigError((err as Error).message, { cause: err });
  }
  const nodeName = values['node-name'] ?? env.NODE_NAME ?? hostname().toLowerCase();
  // Only the API needs it; an odd host name must not stop an agent that names no pods.
  const nodeNameUsed = kube !== undefined || values['node-name'] !== undefined;
  if (nodeNameUsed && (!NODE_NAME.test(nodeName) || nodeName.length > 253)) {
    throw new AgentConfigError(
      `--node-name ${nodeName}: expected a Kubernetes node name (lower-case letters, digits, - and .)`,
    );
  }
  const cgroupRoot = values['cgroup-root'];
  if (cgroupRoot !== undefined && !cgroupRoot.startsWith('/')) {
    throw new AgentConfigError(
      `--cgroup-root ${cgroupRoot}: expected an absolute path (the host's cgroup v2 mount)`,
    );
  }
  return {
    kube,
    nodeName,
    cgroupRoot,
    nats,
    natsAuth,
    bufferBytes: bufferKb * 1024,
    batchDelayMs,
    json: values.json,
    netns: values.netns,
    host,
    ringbufMb,
    aggregateSlots,
    durationS,
    loaderPath: env.RSTSCOPE_LOADER ? resolve(env.RSTSCOPE_LOADER) : DEFAULT_LOADER_PATH,
    assumeNoReason: values['assume-no-reason'],
  };
}

function agentNatsAuth(
  flags: Parameters<typeof natsAuthFromFlags>[0],
  env: NodeJS.ProcessEnv,
  nats: string[],
): NatsAuth {
  const given = Object.keys(NATS_AUTH_OPTIONS).find((f) => flags[f as keyof typeof flags]);
  if (given !== undefined && !nats.length) {
    throw new AgentConfigError(`--${given} has no effect without --nats: add the NATS URL`);
  }
  try {
    return natsAuthFromFlags(flags, env, nats);
  } catch (err) {
    if (err instanceof NatsAuthConfigError) throw new AgentConfigError(err.message, { cause: err });
    throw err;
  }
}
