import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface HostIdentity {
  host: string;
  bootId: string;
}

export function readHostIdentity(hostOverride?: string): HostIdentity {
  // The boot id changes at every boot: with the host name it names one run of one kernel.
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return { host: hostOverride ?? hostname(), bootId };
}
