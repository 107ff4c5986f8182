// The step between the decoder and publishing/printing that names pods. A
// batch whose cgroups are all known is named and passed on at once, in the
// loader's callback. A batch with a cgroup not seen yet (a container that just
// started) waits for one rate-limited walk of the cgroup hierarchy, and every
// batch after it waits behind it, so events leave in the order they came.
// Nothing is dropped for want of a name: a wait is bounded in time, and once
// too many events are held they go on with whatever names are known.
import type { WireResetEvent } from '../../proto/index.js';
import type { PodAttribution } from './pod-attribution.js';

/** Longest a batch waits for its cgroups: a rewalk interval and two slow walks. */
export const DEFAULT_CGROUP_WAIT_MS = 3_000;
/**
 * Events held while cgroups resolve before batches stop waiting: some
 * seconds at the agent's sustained rate, a few tens of MiB at most.
 */
export const DEFAULT_MAX_HELD_EVENTS = 65_536;

export interface AttributionStepOptions {
  /** Finds the paths of these cgroup ids (CgroupIndex.resolveNext); must not reject. */
  resolve(cgroupIds: string[]): Promise<unknown>;
  /** Where named batches go, in order. */
  deliver(events: WireResetEvent[]): void;
  /** A failure of deliver() on the waiting path (on the direct path it throws to the caller). */
  error?(err: unknown): void;
  maxWaitMs?: number;
  maxHeldEvents?: number;
}

export interface AttributionStepStats {
  /** Batches that waited for a cgroup walk. */
  waits: number;
  /** Waits that ran out of time. */
  timeouts: number;
  /** Batches with unknown cgroups passed on without waiting because too many events were held. */
  unwaited: number;
}

export class AttributionStep {
  readonly stats: AttributionStepStats = { waits: 0, timeouts: 0, unwaited: 0 };
  private readonly held: WireResetEvent[][] = [];
  private heldEvents = 0;
  private draining: Promise<void> | undefined;
  private readonly maxWaitMs: number;
  private readonly maxHeldEvents: number;

  constructor(
    private readonly attribution: PodAttribution,
    private readonly options: AttributionStepOptions,
  ) {
    this.maxWaitMs = options.maxWaitMs ?? DEFAULT_CGROUP_WAIT_MS;
    this.maxHeldEvents = options.maxHeldEvents ?? DEFAULT_MAX_HELD_EVENTS;
  }

  /** Takes a decoded batch; synchronous, never waits. */
  accept(events: WireResetEvent[]): void {
    if (this.held.length === 0 && this.attribution.name(events) === undefined) {
      this.options.deliver(events);
      return;
    }
    this.held.push(events);
    this.heldEvents += events.length;
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  /** Events held now, waiting for a cgroup walk. */
  get holding(): number {
    return this.heldEvents;
  }

  /** Resolves once every batch accepted so far has been delivered. */
  async flushed(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.held.length > 0) {
      const batch = this.held[0]!;
      const unknown = this.attribution.name(batch);
      if (unknown) {
        if (this.heldEvents > this.maxHeldEvents) {
          this.stats.unwaited++;
        } else {
          this.stats.waits++;
          if (!(await this.waitFor([...unknown]))) this.stats.timeouts++;
          this.attribution.name(batch);
        }
      }
      this.held.shift();
      this.heldEvents -= batch.length;
      try {
        this.options.deliver(batch);
      } catch (err) {
        this.options.error?.(err);
      }
    }
  }

  /** True when the cgroups resolved (found or not) within maxWaitMs. */
  private async waitFor(cgroupIds: string[]): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), this.maxWaitMs);
    });
    try {
      return await Promise.race([this.options.resolve(cgroupIds).then(() => true), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
