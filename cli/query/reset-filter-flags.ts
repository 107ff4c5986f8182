// The flags that choose resets (--host, --netns, --address, --port,
// --direction, --origin, --cause, the Kubernetes names --namespace, --workload,
// --service, --pod, and the window) as the API's ResetFilter. Bad
// values are refused before any call, by the same rules the server applies.
import {
  DIRECTIONS,
  ORIGINS,
  ResetFilterError,
  parseResetFilter,
} from '../../collector/query/reset-filter.js';
import type { ResetFilter } from '../../proto/index.js';
import { QueryVerbUsageError } from './query-verb.js';
import { unixNs } from './time-window.js';
import type { TimeWindow } from './time-window.js';

export const FILTER_OPTIONS = {
  host: { type: 'string' },
  netns: { type: 'string' },
  address: { type: 'string' },
  port: { type: 'string' },
  direction: { type: 'string' },
  origin: { type: 'string' },
  cause: { type: 'string' },
  namespace: { type: 'string' },
  workload: { type: 'string' },
  service: { type: 'string' },
  pod: { type: 'string' },
} as const;

export const FILTER_USAGE = `  --host NAME         resets seen by this host's kernel (its node name)
  --netns NS          in this network namespace: its inode, or its name under /run/netns
  --address ADDR      either end of the flow, an address or a CIDR, e.g. 10.2.0.2,
                      10.2.0.0/16 or fd00::/64 (as either side saw it, before or after NAT)
  --port N            a port at either end
  --direction D       ${DIRECTIONS.join(' or ')}
  --origin O          ${ORIGINS.join(', ')} (see docs/diagnosis.md)
  --cause ID          a cause such as idle_timeout or closed_port (see docs/diagnosis.md)
  --namespace NS      a Kubernetes namespace at either end of the flow
  --workload W        a workload at either end: Kind/name (Deployment/checkout) or a name
  --service S         a service at the flow's server end, reached by its ClusterIP or at
                      one of its endpoints: namespace/name (shop/payments) or a name
  --pod P             a pod at either end: namespace/name or a name`;

export type FilterFlags = { [K in keyof typeof FILTER_OPTIONS]?: string };

/** The filter for the API; no window (watch): from and to are 0. */
export function resetFilter(flags: FilterFlags, window: TimeWindow | undefined): ResetFilter {
  const filter: ResetFilter = {
    from_unix_ns: window ? unixNs(window.from) : '0',
    to_unix_ns: window ? unixNs(window.to) : '0',
    host: flags.host ?? '',
    netns: flags.netns ?? '',
    address: flags.address ?? '',
    port: flags.port === undefined ? 0 : portNumber(flags.port),
    direction: flags.direction ?? '',
    origin: flags.origin ?? '',
    cause: flags.cause ?? '',
    namespace: flags.namespace ?? '',
    workload: flags.workload ?? '',
    service: flags.service ?? '',
    pod: flags.pod ?? '',
  };
  for (const name of Object.keys(FILTER_OPTIONS) as (keyof FilterFlags)[]) {
    if (flags[name] === '')
      throw new QueryVerbUsageError(`--${name} is empty: give a value or leave it out`);
  }
  try {
    parseResetFilter(filter);
  } catch (err) {
    // The server's messages start with the field's name, which is the flag's.
    if (err instanceof ResetFilterError) throw new QueryVerbUsageError(`--${err.message}`);
    throw err;
  }
  return filter;
}

// The server reads port 0 as "any port", so 0 and non-numbers must stop here.
function portNumber(text: string): number {
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1)) throw new QueryVerbUsageError(`--port ${text}: expected 1 to 65535`);
  return port;
}
