// Which names an address has had, and when. The API tells the present; reset
// events arrive late and are read later still, so every mapping keeps the time
// it was first and last seen, and an ended mapping stays for a while: a reset
// from a pod deleted a minute ago still gets its name.
import type { Workload } from '../../k8s/index.js';

export type MappingKind = 'pod' | 'service' | 'endpoint' | 'node';

export interface AddressMapping {
  kind: MappingKind;
  /** Canonical text (see canonicalAddress). */
  address: string;
  /** A service's port on its ClusterIP, or an endpoint's target port. */
  port?: number;
  protocol?: string;
  namespace?: string;
  /** The pod's, service's or node's name; for an endpoint, its service's name. */
  name: string;
  workload?: Workload;
  /** An endpoint's pod (its targetRef). */
  pod?: string;
}

export interface SeenMapping extends AddressMapping {
  /** Milliseconds since the epoch. */
  firstSeen: number;
  lastSeen: number;
  /** When the API said it is gone; absent while it holds. */
  ended?: number;
  /**
   * Found in the API's first list: it held before firstSeen too, since when
   * nobody told us. A reset from before the collector started is named by it.
   */
  listed?: boolean;
}

/** How long an ended mapping is kept for late events. */
export const DEFAULT_ENDED_RETENTION_MS = 3_600_000;

/**
 * A mapping the watch reported is taken to hold this long before we saw it:
 * the watch event reaches us a little after the pod got its IP, and agents'
 * clocks are not ours. Only when nothing held at the time for certain.
 */
export const START_GRACE_MS = 30_000;

/** What makes two mappings the same one (first/last seen aside). */
export function mappingIdentity(m: AddressMapping): string {
  return [
    m.kind,
    m.address,
    m.port ?? '',
    m.protocol ?? '',
    m.namespace ?? '',
    m.name,
    m.pod ?? '',
  ].join('|');
}

interface Live {
  mapping: SeenMapping;
  /** The objects that state it (two EndpointSlices of one service may, during a rollout). */
  sources: Set<string>;
}

export class AddressBook {
  private readonly live = new Map<string, Live>();
  private readonly byAddress = new Map<string, Set<string>>();
  /** Ended mappings in the order they ended, and the same by address for lookups. */
  private ended: SeenMapping[] = [];
  private readonly endedByAddress = new Map<string, SeenMapping[]>();
  private readonly bySource = new Map<string, Set<string>>();
  /** While true, what is set comes from the API's first list (see SeenMapping.listed). */
  private listing = true;
  /** Grows with every change an answer of at() could see: lets callers cache answers. */
  revision = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly retentionMs = DEFAULT_ENDED_RETENTION_MS,
  ) {}

  /** What `source` (an object's kind/namespace/name) states now, replacing what it stated before. */
  set(source: string, mappings: AddressMapping[]): void {
    const now = this.now();
    const next = new Set<string>();
    for (const mapping of mappings) {
      const id = mappingIdentity(mapping);
      next.add(id);
      const held = this.live.get(id);
      if (held) {
        held.sources.add(source);
        held.mapping.lastSeen = now;
        // A pod's workload may be learned late (its ReplicaSet read after the pod).
        if (mapping.workload && mapping.workload !== held.mapping.workload) {
          held.mapping.workload = mapping.workload;
          this.revision++;
        }
        continue;
      }
      this.revision++;
      this.live.set(id, {
        mapping: {
          ...mapping,
          firstSeen: now,
          lastSeen: now,
          ...(this.listing ? { listed: true } : {}),
        },
        sources: new Set([source]),
      });
      let ids = this.byAddress.get(mapping.address);
      if (!ids) this.byAddress.set(mapping.address, (ids = new Set()));
      ids.add(id);
    }
    for (const id of this.bySource.get(source) ?? []) {
      if (!next.has(id)) this.release(id, source, now);
    }
    if (next.size > 0) this.bySource.set(source, next);
    else this.bySource.delete(source);
    this.prune(now);
  }

  remove(source: string): void {
    this.set(source, []);
  }

  /** The first list is complete: what is set from now on started when we saw it. */
  listed(): void {
    this.listing = false;
    this.revision++;
  }

  /** The mappings of `address` that hold now. */
  current(address: string): SeenMapping[] {
    return [...(this.byAddress.get(address) ?? [])].map((id) => this.live.get(id)!.mapping);
  }

  /**
   * The mappings of `address` that held at `time`, ended ones included: those
   * certain to have held first, then those seen within START_GRACE_MS after it.
   */
  at(address: string, time: number): SeenMapping[] {
    const held = (m: SeenMapping) =>
      (m.listed || m.firstSeen <= time) && (m.ended === undefined || time <= m.ended);
    const ids = this.byAddress.get(address);
    const past = this.endedByAddress.get(address);
    const found: SeenMapping[] = [];
    const soon: SeenMapping[] = [];
    for (const id of ids ?? []) {
      const m = this.live.get(id)!.mapping;
      if (held(m)) found.push(m);
      else if (m.firstSeen - START_GRACE_MS <= time) soon.push(m);
    }
    for (const m of past ?? []) {
      if (held(m)) found.push(m);
      else if (m.firstSeen - START_GRACE_MS <= time && time <= m.ended!) soon.push(m);
    }
    return found.length > 0 ? found : soon;
  }

  /**
   * From when on at(address, t) gives the same answer for every later t (until
   * the next change): after the last mapping there started and the last one ended.
   */
  settledSince(address: string): number {
    let since = -Infinity;
    for (const id of this.byAddress.get(address) ?? []) {
      const m = this.live.get(id)!.mapping;
      if (!m.listed) since = Math.max(since, m.firstSeen);
    }
    for (const m of this.endedByAddress.get(address) ?? []) since = Math.max(since, m.ended! + 1);
    return since;
  }

  /** Every mapping, live and recently ended: what the storage step will write. */
  history(): SeenMapping[] {
    return [...[...this.live.values()].map((l) => l.mapping), ...this.ended];
  }

  private release(id: string, source: string, now: number): void {
    const held = this.live.get(id);
    if (!held) return;
    held.sources.delete(source);
    if (held.sources.size > 0) return;
    this.live.delete(id);
    const ids = this.byAddress.get(held.mapping.address)!;
    ids.delete(id);
    if (ids.size === 0) this.byAddress.delete(held.mapping.address);
    const ended = { ...held.mapping, lastSeen: now, ended: now };
    this.revision++;
    this.ended.push(ended);
    let past = this.endedByAddress.get(ended.address);
    if (!past) this.endedByAddress.set(ended.address, (past = []));
    past.push(ended);
  }

  private prune(now: number): void {
    const oldest = now - this.retentionMs;
    if (this.ended.length === 0 || this.ended[0]!.ended! >= oldest) return;
    // Ended in time order: the expired ones are a prefix.
    const kept = this.ended.findIndex((m) => m.ended! >= oldest);
    const expired = kept < 0 ? this.ended : this.ended.slice(0, kept);
    this.ended = kept < 0 ? [] : this.ended.slice(kept);
    this.revision++;
    for (const m of expired) {
      const past = this.endedByAddress.get(m.address)!.filter((p) => p !== m);
      if (past.length > 0) this.endedByAddress.set(m.address, past);
      else this.endedByAddress.delete(m.address);
    }
  }
}
