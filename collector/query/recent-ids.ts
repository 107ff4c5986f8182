// The last N ids seen, in a bounded set: the oldest is forgotten first.

export class RecentIds {
  private readonly seen = new Set<string>();

  constructor(private readonly capacity: number) {}

  /** False when the id is among the last `capacity` added (a repeat). */
  add(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    // A Set iterates in insertion order, so its first entry is the oldest.
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.values().next().value!);
    return true;
  }
}
