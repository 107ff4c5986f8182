// `rstscope up` settings: one type, documented defaults, validated flags.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NATS_URL_FORM, splitNatsServers } from '../../proto/nats-topology.js';
import { DEFAULT_DATA_DIR } from '../../collector/config.js';
import { DEFAULT_QUERY_ADDRESS } from '../../collector/query/query-limits.js';

export const DEFAULT_NATS_LISTEN = '127.0.0.1:4222';

export class UpConfigError extends Error {
  override name = 'UpConfigError';
}

export interface UpConfig {
  /** Everything lives here: nats/, clickhouse/, logs/ (default /var/lib/rstscope). */
  dataDir: string;
  /** An existing NATS to use instead of starting one (default: start nats-server). */
  nats: string[];
  /** Where the started nats-server listens (default 127.0.0.1:4222). */
  natsListen: { host: string; port: number };
  /** The collector's gRPC query address (default 127.0.0.1:7470). */
  listen: string;
  /** Passed to the agent: namespaces and host name. */
  agentArgs: string[];
  /** Passed to the collector besides its NATS, data and listen flags: the inventory. */
  collectorArgs: string[];
}

export const UP_USAGE = `usage: rstscope up [--data-dir DIR] [--nats URL | --nats-listen HOST:PORT]
                   [--listen HOST:PORT] [--netns NAME|PATH|INODE]... [--host NAME]
                   [--inventory FILE]

Runs everything on this host on the embedded default: nats-server with JetStream,
the collector on embedded ClickHouse (chDB), and the agent. Ctrl-C stops it all.
  --data-dir DIR        NATS store, ClickHouse data and logs (default ${DEFAULT_DATA_DIR})
  --nats URL            use this NATS instead of starting nats-server
  --nats-listen H:P     where the started nats-server listens (default ${DEFAULT_NATS_LISTEN})
  --listen H:P          the collector's query service (default ${DEFAULT_QUERY_ADDRESS})
  --netns NS            the agent covers only these namespaces (repeatable)
  --host NAME           host name in the records (default: the host name)
  --inventory FILE      names for addresses and CIDRs, middleboxes included (docs/kubernetes.md)`;

export function loadUpConfig(argv: string[]): UpConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
        nats: { type: 'string' },
        'nats-listen': { type: 'string', default: DEFAULT_NATS_LISTEN },
        listen: { type: 'string', default: DEFAULT_QUERY_ADDRESS },
        netns: { type: 'string', multiple: true, default: [] },
        host: { type: 'string' },
        inventory: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UpConfigError(`${(err as Error).message}; see 'rstscope up --help'`);
  }
  const m = /^([0-9.]+|localhost):(\d{1,5})$/.exec(values['nats-listen']);
  if (!m || Number(m[2]) > 65535) {
    throw new UpConfigError(
      `--nats-listen ${values['nats-listen']}: expected IPv4:PORT, e.g. ${DEFAULT_NATS_LISTEN}`,
    );
  }
  const agentArgs = values.netns.flatMap((ns) => ['--netns', ns]);
  if (values.host) agentArgs.push('--host', values.host);
  const { servers: nats, invalid } = splitNatsServers(values.nats ?? '');
  if (invalid !== undefined)
    throw new UpConfigError(`--nats ${invalid}: expected ${NATS_URL_FORM}`);
  return {
    dataDir: resolve(values['data-dir']),
    nats,
    natsListen: { host: m[1]!, port: Number(m[2]) },
    listen: values.listen,
    agentArgs,
    // Absolute: the collector runs with its own working directory in mind.
    collectorArgs: values.inventory ? ['--inventory', resolve(values.inventory)] : [],
  };
}
