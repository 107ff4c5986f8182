// cgroup id → cgroup path, for the cgroup_id that the BPF programs record.
//
// On cgroup v2 a cgroup's id is its kernfs node id, which is also the inode
// number of its directory on 64-bit hosts: the root is 1, and ids only grow
// (kernfs allocates them cyclically with a generation in the upper 32 bits),
// so an id is never reused for another cgroup and a stale cache entry is
// harmless. The kernel offers no id → path lookup to user space short of
// open_by_handle_at(2) with CAP_DAC_READ_SEARCH, so the index walks the
// hierarchy and remembers what it saw.
//
// Containers get a private cgroup namespace, so in a pod the agent must walk
// the host's hierarchy mounted read-only (see cgroup-mount.ts); paths are
// relative to that mount, as the host's /proc/<pid>/cgroup would show them.
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_CGROUP_ROOT } from './cgroup-mount.js';

/** Enough for every container of a busy node several times over. */
export const DEFAULT_CGROUP_CACHE_ENTRIES = 16_384;
/**
 * Walks are not free: on a 2-core VM a walk of 1,200 cgroups took 0.1 to
 * 0.25 s of file system calls (off the event loop: each cgroup directory
 * lists some twenty control files). New unknown ids start at most one walk
 * per interval; an id that a walk begun after it was asked for did not find
 * is remembered as gone and starts none.
 */
export const DEFAULT_REWALK_INTERVAL_MS = 1_000;

export interface CgroupIndexOptions {
  /** The cgroup v2 mount to walk (default /sys/fs/cgroup). */
  root?: string;
  /** Most ids remembered; the least recently used go first (default 16384). */
  maxEntries?: number;
  /** Least time between two walks (default 1000 ms). */
  rewalkIntervalMs?: number;
}

export interface CgroupIndexStats {
  entries: number;
  hits: number;
  /** Lookups that found no path, after a walk or because walks were rate-limited. */
  misses: number;
  walks: number;
  walkErrors: number;
  /** The last walk's failure, one line; undefined once a walk succeeds. */
  lastError: string | undefined;
}

export class CgroupIndex {
  readonly root: string;
  private readonly maxEntries: number;
  private readonly rewalkIntervalMs: number;
  // A Map keeps insertion order: re-inserting on a hit makes it an LRU.
  private readonly paths = new Map<string, string>();
  // Ids that callers are waiting for: remembered last in a walk, so that a
  // hierarchy larger than the cache cannot evict them before they are read.
  private readonly wanted = new Set<string>();
  // Ids whose cgroup was removed before a walk could see it. Exact, not a
  // guess: the reset happened while the cgroup existed, the walk began after,
  // and ids are never reused. Bounded like paths.
  private readonly gone = new Map<string, true>();
  private walking: Promise<void> | undefined;
  private lastWalkAt = -Infinity;
  private readonly counts = { hits: 0, misses: 0, walks: 0, walkErrors: 0 };
  private lastError: string | undefined;

  constructor(options: CgroupIndexOptions = {}) {
    this.root = options.root ?? DEFAULT_CGROUP_ROOT;
    this.maxEntries = options.maxEntries ?? DEFAULT_CGROUP_CACHE_ENTRIES;
    this.rewalkIntervalMs = options.rewalkIntervalMs ?? DEFAULT_REWALK_INTERVAL_MS;
  }

  /** The path if already known; never touches the file system. */
  lookup(cgroupId: string | bigint): string | undefined {
    const key = String(cgroupId);
    const path = this.paths.get(key);
    if (path !== undefined) {
      this.paths.delete(key);
      this.paths.set(key, path);
    }
    return path;
  }

  /**
   * The path of a cgroup id, walking the hierarchy again on a miss (joining a
   * walk under way, or none when the last one was too recent). Never rejects:
   * an unreadable hierarchy gives undefined and shows in stats().
   */
  async resolve(cgroupId: string | bigint): Promise<string | undefined> {
    const known = this.lookup(cgroupId);
    if (known !== undefined) {
      this.counts.hits++;
      return known;
    }
    const key = String(cgroupId);
    if (this.gone.has(key)) {
      this.counts.misses++;
      return undefined;
    }
    if (this.walking) {
      this.wanted.add(key);
      await this.walking;
    } else if (performance.now() - this.lastWalkAt >= this.rewalkIntervalMs) {
      this.wanted.add(key);
      await this.rewalk();
    }
    const path = this.lookup(cgroupId);
    if (path === undefined) this.counts.misses++;
    else this.counts.hits++;
    return path;
  }

  /**
   * Like resolve(), but when walks are rate-limited it waits for the next one
   * allowed instead of answering a miss: for a cgroup made since the last walk
   * (a pod that just started) that is at most the rewalk interval plus a walk.
   * Never rejects.
   */
  async resolveNext(cgroupId: string | bigint): Promise<string | undefined> {
    const key = String(cgroupId);
    // Twice at most: a walk already under way may have read the parent
    // directory before the cgroup was made; one begun after it cannot miss it.
    for (let walks = 0; walks < 2;) {
      if (this.lookup(key) !== undefined || this.gone.has(key)) break;
      this.wanted.add(key);
      if (!this.walking) {
        const wait = this.lastWalkAt + this.rewalkIntervalMs - performance.now();
        if (wait > 0) {
          // Timers round down to whole milliseconds: round up, or wake too early.
          await new Promise((resolve) => setTimeout(resolve, Math.ceil(wait)));
          // Another caller's walk may have run meanwhile, and found it.
          continue;
        }
      }
      await this.rewalk();
      walks++;
    }
    const path = this.lookup(key);
    if (path === undefined) this.counts.misses++;
    else this.counts.hits++;
    return path;
  }

  /** True when a walk begun after `cgroupId` was asked for did not find it: its cgroup was removed. */
  isGone(cgroupId: string | bigint): boolean {
    return this.gone.has(String(cgroupId));
  }

  /** Walks the hierarchy now (joining a walk under way); never rejects. */
  rewalk(): Promise<void> {
    this.walking ??= this.walk().finally(() => {
      this.walking = undefined;
    });
    return this.walking;
  }

  stats(): CgroupIndexStats {
    return { entries: this.paths.size, ...this.counts, lastError: this.lastError };
  }

  private async walk(): Promise<void> {
    this.lastWalkAt = performance.now();
    this.counts.walks++;
    // Asked for before this walk began: what it does not find is gone.
    const askedBefore = new Set(this.wanted);
    const found = new Map<string, string>();
    let complete = false;
    try {
      for await (const [id, path] of cgroupsUnder(this.root)) {
        this.remember(this.paths, id, path);
        if (this.wanted.has(id)) found.set(id, path);
      }
      complete = true;
      this.lastError = undefined;
    } catch (err) {
      this.counts.walkErrors++;
      this.lastError = `cannot walk ${this.root}: ${(err as Error).message}`;
    }
    this.wanted.clear();
    for (const [id, path] of found) this.remember(this.paths, id, path);
    if (!complete) return;
    for (const id of askedBefore) if (!found.has(id)) this.remember(this.gone, id, true);
  }

  private remember<V>(map: Map<string, V>, id: string, value: V): void {
    map.delete(id);
    map.set(id, value);
    if (map.size > this.maxEntries) map.delete(map.keys().next().value!);
  }
}

/**
 * Every cgroup below root (root included) as [id, path from root], parents
 * before children. A cgroup removed during the walk is skipped: pods end all
 * the time. Any other failure ends the walk, which then proves nothing gone.
 */
async function* cgroupsUnder(root: string): AsyncGenerator<[string, string]> {
  const rootStat = await stat(root, { bigint: true });
  yield [rootStat.ino.toString(), '/'];
  const pending = ['/'];
  while (pending.length) {
    const path = pending.pop()!;
    let entries: Dirent[];
    try {
      entries = await readdir(join(root, path), { withFileTypes: true });
    } catch (err) {
      if (removed(err)) continue;
      throw err;
    }
    for (const entry of entries) {
      // Every directory of a cgroup v2 mount is a cgroup; files are its knobs.
      if (!entry.isDirectory()) continue;
      const child = path === '/' ? `/${entry.name}` : `${path}/${entry.name}`;
      let id: string;
      try {
        id = (await stat(join(root, child), { bigint: true })).ino.toString();
      } catch (err) {
        if (removed(err)) continue;
        throw err;
      }
      yield [id, child];
      pending.push(child);
    }
  }
}

const removed = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';
