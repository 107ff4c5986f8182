// The capabilities the loader needs, checked before it starts so that a
// missing one gets a one-line answer instead of an EPERM from bpf().
import { readFileSync } from 'node:fs';
import { MissingCapabilityError } from './errors.js';

const CAP_SYS_ADMIN = 21n;
/** Loading tracing programs and reading kernel memory through them. */
const REQUIRED: ReadonlyArray<[bigint, string]> = [
  [39n, 'CAP_BPF'],
  [38n, 'CAP_PERFMON'],
];

export function effectiveCapabilities(statusText: string): bigint {
  const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText);
  return match ? BigInt(`0x${match[1]}`) : 0n;
}

/** Names of the required capabilities that the set lacks. */
export function missingCapabilities(effective: bigint): string[] {
  // Before Linux 5.8 (no CAP_BPF), CAP_SYS_ADMIN covered everything.
  if (effective & (1n << CAP_SYS_ADMIN)) return [];
  return REQUIRED.filter(([bit]) => !(effective & (1n << bit))).map(([, name]) => name);
}

export function assertCapabilities(): void {
  const missing = missingCapabilities(
    effectiveCapabilities(readFileSync('/proc/self/status', 'utf8')),
  );
  if (missing.length) {
    throw new MissingCapabilityError(
      `missing capabilities ${missing.join(', ')}: run as root, or grant them (setcap cap_bpf,cap_perfmon+ep, or securityContext.capabilities.add in Kubernetes)`,
    );
  }
}
