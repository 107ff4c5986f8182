// An informer of our own: list, then watch from the list's resourceVersion,
// keeping a Map of the objects in step with the API server. A 410 means the
// server no longer has history that old, so the list is read again and the Map
// reconciled with it (deletions missed while away become remove() calls).
import { Backoff, sleep } from './backoff.js';
import type { BackoffOptions } from './backoff.js';
import type { KubeClient, Selectors } from './kube-client.js';
import { KubeGoneError } from './kube-errors.js';
import type { KubeResource } from './kube-resource.js';
import type { KubeObject } from './kube-types.js';

export interface ReflectorHandlers<T extends KubeObject> {
  /** An object appeared or changed; awaited before the next event, so order holds. */
  upsert?(object: T, previous: T | undefined): void | Promise<void>;
  remove?(object: T): void | Promise<void>;
  /** A list or watch failed; the reflector retries on its own after a backoff. */
  error?(err: unknown): void;
}

export interface ReflectOptions extends Selectors {
  pageSize?: number;
  watchTimeoutSeconds?: number;
  backoff?: BackoffOptions;
}

export interface ReflectorStats {
  lists: number;
  watches: number;
  events: number;
  bookmarks: number;
  /** Lists after the first: 410s, or failures before anything was listed. */
  relists: number;
  errors: number;
}

/** The store key client-go uses too: an object deleted and created again keeps it. */
export function objectKey(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return namespace ? `${namespace}/${name}` : name;
}

export class Reflector<T extends KubeObject> {
  readonly items = new Map<string, T>();
  readonly stats: ReflectorStats = {
    lists: 0,
    watches: 0,
    events: 0,
    bookmarks: 0,
    relists: 0,
    errors: 0,
  };
  /** The newest resourceVersion seen: a list's, an event's or a bookmark's. */
  resourceVersion = '';
  /** Resolves once the first list is in the Map. */
  readonly synced: Promise<void>;

  private markSynced!: () => void;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    readonly resource: KubeResource,
    private readonly handlers: ReflectorHandlers<T>,
    private readonly options: ReflectOptions = {},
  ) {
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
  }

  start(): this {
    this.running ??= this.run();
    return this;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const backoff = new Backoff(this.options.backoff);
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
          this.markSynced();
        }
        await this.watchOnce();
        // The server ended the watch at its timeout: carry on from where it stopped.
        backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof KubeGoneError) {
          // Expected now and then (etcd compaction); no backoff, no error report.
          needList = true;
          continue;
        }
        this.stats.errors++;
        this.handlers.error?.(err);
        await sleep(backoff.next(), signal);
      }
    }
  }

  private async relist(): Promise<void> {
    if (this.stats.lists > 0) this.stats.relists++;
    this.stats.lists++;
    const listing = await this.client.list<T>(this.resource, {
      ...this.selectors(),
      limit: this.options.pageSize,
      signal: this.abort.signal,
    });
    const seen = new Set<string>();
    for (const object of listing.items) {
      const key = objectKey(object);
      seen.add(key);
      await this.apply(key, object);
    }
    for (const [key, object] of [...this.items]) {
      if (seen.has(key)) continue;
      this.items.delete(key);
      await this.handlers.remove?.(object);
    }
    this.resourceVersion = listing.resourceVersion;
  }

  private async watchOnce(): Promise<void> {
    this.stats.watches++;
    const events = this.client.watch<T>(this.resource, this.resourceVersion, {
      ...this.selectors(),
      timeoutSeconds: this.options.watchTimeoutSeconds,
      signal: this.abort.signal,
    });
    for await (const event of events) {
      if (this.abort.signal.aborted) return;
      if (event.type === 'BOOKMARK') {
        this.stats.bookmarks++;
      } else {
        this.stats.events++;
        const key = objectKey(event.object);
        if (event.type === 'DELETED') {
          const known = this.items.get(key);
          this.items.delete(key);
          if (known) await this.handlers.remove?.(event.object);
        } else {
          await this.apply(key, event.object);
        }
      }
      this.resourceVersion = event.object.metadata.resourceVersion ?? this.resourceVersion;
    }
  }

  private async apply(key: string, object: T): Promise<void> {
    const previous = this.items.get(key);
    this.items.set(key, object);
    // resourceVersion is opaque: equal means unchanged, nothing more may be read from it.
    if (previous && previous.metadata.resourceVersion === object.metadata.resourceVersion) return;
    await this.handlers.upsert?.(object, previous);
  }

  private selectors(): Selectors {
    const { namespace, fieldSelector, labelSelector } = this.options;
    return { namespace, fieldSelector, labelSelector };
  }
}

/** Keep a Map of `resource` in sync, calling `handlers` on every change; already started. */
export function reflect<T extends KubeObject>(
  client: KubeClient,
  resource: KubeResource,
  handlers: ReflectorHandlers<T>,
  options: ReflectOptions = {},
): Reflector<T> {
  return new Reflector<T>(client, resource, handlers, options).start();
}
