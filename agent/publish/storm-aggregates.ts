// Storm aggregates between the loader's drains (every second) and the next
// heartbeat (every 10 s): merged by key, bounded. Pure.
import type { ResetAggregate } from '../../proto/index.js';
import { RST_DIR_SENT, RST_REASON_UNKNOWN } from '../event-layout.js';
import { enumName } from '../kernel-names.js';
import type { EnumNames } from '../kernel-names.js';
import type { KernelAggregate } from '../loader-frames.js';

const AF_INET = 2;

/**
 * Distinct aggregates one heartbeat carries: the kernel's own bound (4096 slots
 * per drain by default), so a storm that fills the kernel map every second
 * still fits. About 300 KB of heartbeat at most, well under NATS's 1 MiB.
 */
export const MAX_AGGREGATES = 4096;
/**
 * Past MAX_AGGREGATES, new keys are summed per (netns, direction, reason, family)
 * with the remote left out ("0.0.0.0/0", port 0), as the kernel does when its
 * map is nearly full: the counts stay, only detail goes. Those are bounded too; what does not fit even there is cut and counted.
 */
export const MAX_COARSE_AGGREGATES = 1024;

/** The remote network as the heartbeat names it: a.b.c.0/24 or x:x:x:x::/64. */
export function remotePrefix(family: number, net: Buffer): string {
  if (family === AF_INET) return `${net[12]}.${net[13]}.${net[14]}.0/24`;
  const groups = [0, 2, 4, 6].map((i) => net.readUInt16BE(i).toString(16));
  return `${groups.join(':')}::/64`;
}

export function toResetAggregate(a: KernelAggregate, rstReasons: EnumNames): ResetAggregate {
  return {
    netns: a.netns,
    direction: a.direction === RST_DIR_SENT ? 'sent' : 'received',
    reason: a.reason === RST_REASON_UNKNOWN ? 'UNKNOWN' : enumName(rstReasons, a.reason),
    family: a.family === AF_INET ? 'ipv4' : 'ipv6',
    remote_prefix: a.merged
      ? mergedPrefix(a.family === AF_INET ? 'ipv4' : 'ipv6')
      : remotePrefix(a.family, a.remoteNet),
    remote_port: a.remotePort,
    resets: a.resets.toString(),
    first_unix_ns: a.firstUnixNs.toString(),
    last_unix_ns: a.lastUnixNs.toString(),
  };
}

/** The remote of a sum that left it out: every address of the family. */
function mergedPrefix(family: string): string {
  return family === 'ipv4' ? '0.0.0.0/0' : '::/0';
}

function keyOf(a: ResetAggregate): string {
  return `${a.netns}|${a.direction}|${a.reason}|${a.family}|${a.remote_prefix}|${a.remote_port}`;
}

function merge(into: ResetAggregate, a: ResetAggregate): void {
  into.resets = (BigInt(into.resets) + BigInt(a.resets)).toString();
  if (BigInt(a.first_unix_ns) < BigInt(into.first_unix_ns)) into.first_unix_ns = a.first_unix_ns;
  if (BigInt(a.last_unix_ns) > BigInt(into.last_unix_ns)) into.last_unix_ns = a.last_unix_ns;
}

export class AggregateBuffer {
  private fine = new Map<string, ResetAggregate>();
  private coarse = new Map<string, ResetAggregate>();
  /** Resets whose aggregate fitted nowhere (cumulative). */
  cutResets = 0n;

  add(aggregates: readonly ResetAggregate[]): void {
    for (const a of aggregates) {
      const key = keyOf(a);
      const known = this.fine.get(key);
      if (known) merge(known, a);
      else if (this.fine.size < MAX_AGGREGATES) this.fine.set(key, { ...a });
      else this.addCoarse(a);
    }
  }

  get size(): number {
    return this.fine.size + this.coarse.size;
  }

  /** Everything held, emptied: for the next heartbeat. */
  take(): ResetAggregate[] {
    const all = [...this.fine.values(), ...this.coarse.values()];
    this.fine = new Map();
    this.coarse = new Map();
    return all;
  }

  /** Puts back what a heartbeat that could not be sent carried. */
  restore(aggregates: readonly ResetAggregate[]): void {
    this.add(aggregates);
  }

  private addCoarse(a: ResetAggregate): void {
    const wide: ResetAggregate = {
      ...a,
      remote_prefix: mergedPrefix(a.family),
      remote_port: 0,
    };
    const key = keyOf(wide);
    const known = this.coarse.get(key);
    if (known) merge(known, wide);
    else if (this.coarse.size < MAX_COARSE_AGGREGATES) this.coarse.set(key, wide);
    else this.cutResets += BigInt(a.resets);
  }
}
