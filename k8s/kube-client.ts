// A small Kubernetes API client of our own: get, list (following continue) and
// watch (NDJSON). @kubernetes/client-node 2.x does not run on Node 20 and 1.x
// brings 72 packages for the three calls rstscope makes.
import type { IncomingMessage } from 'node:http';
import { text } from 'node:stream/consumers';
import type { KubeConfig } from './kube-config.js';
import { KubeUnauthorizedError } from './kube-errors.js';
import type { KubeRequest } from './kube-http.js';
import { openKubeRequest } from './kube-http.js';
import type { KubeResource } from './kube-resource.js';
import type { KubeList, KubeObject, WatchEvent } from './kube-types.js';
import { watchEvents } from './watch-events.js';

/** Page size of a list: big enough for few round trips, small enough for the API server's memory. */
export const DEFAULT_PAGE_SIZE = 500;
/** How long the server keeps a watch open before we start a new one (client-go picks 5–10 min). */
export const DEFAULT_WATCH_TIMEOUT_S = 300;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface Selectors {
  namespace?: string;
  /** spec.nodeName=node-a */
  fieldSelector?: string;
  /** app=checkout,tier!=db */
  labelSelector?: string;
}

export interface ListOptions extends Selectors {
  limit?: number;
  signal?: AbortSignal;
}

export interface WatchOptions extends Selectors {
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

export interface Listing<T extends KubeObject> {
  items: T[];
  /** Where a watch continues from to see every change after this list. */
  resourceVersion: string;
}

export class KubeClient {
  constructor(
    readonly config: KubeConfig,
    private readonly requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  ) {}

  async get<T extends KubeObject>(
    resource: KubeResource,
    namespace: string | undefined,
    name: string,
    signal?: AbortSignal,
  ): Promise<T> {
    const res = await this.open({ verb: 'get', resource, namespace, name, signal });
    return JSON.parse(await text(res)) as T;
  }

  /** Every item, page after page; the resourceVersion is the one of the consistent snapshot. */
  async list<T extends KubeObject>(
    resource: KubeResource,
    options: ListOptions = {},
  ): Promise<Listing<T>> {
    const items: T[] = [];
    let next: string | undefined;
    let resourceVersion = '';
    do {
      const res = await this.open({
        verb: 'list',
        resource,
        namespace: options.namespace,
        signal: options.signal,
        query: {
          fieldSelector: options.fieldSelector,
          labelSelector: options.labelSelector,
          limit: String(options.limit ?? DEFAULT_PAGE_SIZE),
          continue: next,
        },
      });
      const page = JSON.parse(await text(res)) as KubeList<T>;
      items.push(...(page.items ?? []));
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      next = page.metadata?.continue || undefined;
    } while (next);
    return { items, resourceVersion };
  }

  /**
   * Changes after `resourceVersion`, bookmarks included, until the server ends the
   * watch (timeoutSeconds). An ERROR event or a 410 throws (KubeGoneError: relist).
   */
  async *watch<T extends KubeObject>(
    resource: KubeResource,
    resourceVersion: string,
    options: WatchOptions = {},
  ): AsyncGenerator<WatchEvent<T>> {
    const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_WATCH_TIMEOUT_S;
    const req = {
      verb: 'watch' as const,
      resource,
      namespace: options.namespace,
      signal: options.signal,
      query: {
        watch: '1',
        resourceVersion,
        allowWatchBookmarks: 'true',
        timeoutSeconds: String(timeoutSeconds),
        fieldSelector: options.fieldSelector,
        labelSelector: options.labelSelector,
      },
    };
    // Silence well past the server's own timeout means a dead connection, not a quiet cluster.
    const res = await this.open(req, (timeoutSeconds + 30) * 1000);
    yield* watchEvents<T>(res, this.config, req);
  }

  private async open(
    req: Omit<KubeRequest, 'idleTimeoutMs'>,
    idleTimeoutMs = this.requestTimeoutMs,
  ): Promise<IncomingMessage> {
    try {
      return await openKubeRequest(this.config, { ...req, idleTimeoutMs });
    } catch (err) {
      // kubelet may have rotated the token since we last read it: read it now and try once more.
      if (!(err instanceof KubeUnauthorizedError)) throw err;
      const before = this.config.token.current();
      if (this.config.token.reload() === before) throw err;
      return await openKubeRequest(this.config, { ...req, idleTimeoutMs });
    }
  }
}
