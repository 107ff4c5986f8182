// A DOUBLE of the Kubernetes API server, not a cluster: no cluster can run on
// these machines. It is a plain HTTP server on 127.0.0.1 that serves recorded
// list responses (test/golden/kube/*.json) with limit/continue paging, recorded
// watch streams (*.ndjson) and events a test pushes, answers a stale
// resourceVersion with 410 and a wrong token with 401, and refuses what a test
// forbids with 403 in the API's own Status form. Everything a real API server
// does beyond that (admission, etcd, field-selector indexes) it does not do.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { Server as TlsServer, createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { KubeObject } from '../../k8s/index.js';

export const KUBE_GOLDEN_DIR = join(import.meta.dirname, '..', 'golden', 'kube');

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface Recorded {
  rv: number;
  type: EventType;
  object: KubeObject;
}

interface Watcher {
  plural: string;
  namespace?: string;
  fieldSelector?: string;
  labelSelector?: string;
  bookmarks: boolean;
  res: ServerResponse;
}

export interface RequestSeen {
  verb: 'get' | 'list' | 'watch';
  plural: string;
  query: URLSearchParams;
  status: number;
  authorization?: string;
}

const PLURALS: Record<string, string> = {
  PodList: 'pods',
  ServiceList: 'services',
  EndpointSliceList: 'endpointslices',
  NodeList: 'nodes',
  ReplicaSetList: 'replicasets',
  JobList: 'jobs',
};

const PATH = /^\/(?:api\/v1|apis\/[^/]+\/[^/]+)\/(?:namespaces\/([^/]+)\/)?([^/]+)(?:\/([^/]+))?$/;

export class KubeApiDouble {
  /** The only token accepted; set it to rotate (the old one then gets 401). */
  token: string;
  /** How a watch from a compacted resourceVersion is refused: an ERROR event (as the watch cache does) or HTTP 410. */
  goneAs: 'event' | 'http' = 'event';
  readonly requests: RequestSeen[] = [];
  resourceVersion = 0;

  private readonly stores = new Map<string, Map<string, KubeObject>>();
  private readonly history: Record<string, Recorded[]> = {};
  private compactedRv = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly forbidden = new Set<string>();
  private readonly snapshots = new Map<string, { rv: number; items: KubeObject[] }>();

  private constructor(
    private readonly server: Server,
    token: string,
  ) {
    this.token = token;
  }

  /** Serves the recorded lists named (file names under test/golden/kube). */
  /** With `tls` (PEM files) it serves HTTPS, as a real API server always does. */
  static async start(options: {
    token: string;
    lists: string[];
    tls?: { cert: string; key: string };
  }): Promise<KubeApiDouble> {
    const tls = options.tls;
    const server = tls
      ? createTlsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) })
      : createServer();
    const double = new KubeApiDouble(server, options.token);
    for (const file of options.lists)
      double.load(JSON.parse(readFileSync(join(KUBE_GOLDEN_DIR, file), 'utf8')));
    server.on('request', (req, res) => double.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return double;
  }

  get url(): string {
    const scheme = this.server instanceof TlsServer ? 'https' : 'http';
    return `${scheme}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  forbid(verb: 'get' | 'list' | 'watch', plural: string): void {
    this.forbidden.add(`${verb} ${plural}`);
  }

  items(plural: string): KubeObject[] {
    return [...this.store(plural).values()];
  }

  /** Adds or changes an object, with a new resourceVersion, and tells the watchers. */
  put(plural: string, object: KubeObject): void {
    const exists = this.store(plural).has(key(object));
    this.record(plural, exists ? 'MODIFIED' : 'ADDED', structuredClone(object), true);
  }

  delete(plural: string, namespace: string | undefined, name: string): void {
    const object = this.store(plural).get(namespace ? `${namespace}/${name}` : name);
    if (!object) throw new Error(`the double has no ${plural} ${namespace}/${name}`);
    this.record(plural, 'DELETED', structuredClone(object), true);
  }

  /**
   * Replays a recorded watch stream: each event is applied and sent with its own
   * resourceVersion; a BOOKMARK is sent as is; an ERROR is sent, ends every watch
   * of `plural` and compacts history to the RV its message names, as etcd would have.
   */
  replay(plural: string, file: string): void {
    const lines = readFileSync(join(KUBE_GOLDEN_DIR, file), 'utf8').split('\n').filter(Boolean);
    for (const line of lines) {
      const event = JSON.parse(line) as {
        type: string;
        object: KubeObject & { code?: number; message?: string };
      };
      if (event.type === 'BOOKMARK') {
        this.resourceVersion = Math.max(
          this.resourceVersion,
          Number(event.object.metadata.resourceVersion),
        );
        this.bookmark(plural);
      } else if (event.type === 'ERROR') {
        const newest = /\((\d+)\)/.exec(event.object.message ?? '')?.[1];
        if (newest) this.resourceVersion = Math.max(this.resourceVersion, Number(newest));
        this.compactedRv = this.resourceVersion;
        for (const w of this.watchersOf(plural)) this.endWatch(w, line);
      } else {
        const rv = Number(event.object.metadata.resourceVersion);
        this.resourceVersion = Math.max(this.resourceVersion, rv - 1);
        this.record(plural, event.type as EventType, event.object, true);
      }
    }
  }

  /** A change no watcher will ever see: history before it is compacted away. */
  changeUnseen(plural: string, type: EventType, object: KubeObject): void {
    this.record(plural, type, structuredClone(object), false);
    this.compactedRv = this.resourceVersion;
  }

  /** Sends every bookmarking watcher of `plural` the current resourceVersion. */
  bookmark(plural: string): void {
    const line = JSON.stringify({
      type: 'BOOKMARK',
      object: { kind: 'Status', metadata: { resourceVersion: String(this.resourceVersion) } },
    });
    for (const w of this.watchersOf(plural)) if (w.bookmarks) w.res.write(`${line}\n`);
  }

  /** Ends every open watch, as the server does at timeoutSeconds. */
  endWatches(): void {
    for (const w of [...this.watchers]) this.endWatch(w);
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  async close(): Promise<void> {
    this.endWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private load(list: {
    kind: string;
    metadata: { resourceVersion: string };
    items: KubeObject[];
  }): void {
    const plural = PLURALS[list.kind];
    if (!plural) throw new Error(`the double has no route for ${list.kind}`);
    for (const item of list.items) this.store(plural).set(key(item), item);
    this.resourceVersion = Math.max(this.resourceVersion, Number(list.metadata.resourceVersion));
  }

  private store(plural: string): Map<string, KubeObject> {
    let store = this.stores.get(plural);
    if (!store) this.stores.set(plural, (store = new Map()));
    return store;
  }

  private record(plural: string, type: EventType, object: KubeObject, seen: boolean): void {
    const rv = ++this.resourceVersion;
    object.metadata.resourceVersion = String(rv);
    if (type === 'DELETED') this.store(plural).delete(key(object));
    else this.store(plural).set(key(object), object);
    if (!seen) return;
    (this.history[plural] ??= []).push({ rv, type, object });
    for (const w of this.watchersOf(plural)) this.send(w, { rv, type, object });
  }

  private watchersOf(plural: string): Watcher[] {
    return [...this.watchers].filter((w) => w.plural === plural);
  }

  private send(w: Watcher, event: Recorded): void {
    if (!matches(event.object, w)) return;
    w.res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
  }

  private endWatch(w: Watcher, lastLine?: string): void {
    this.watchers.delete(w);
    w.res.end(lastLine === undefined ? undefined : `${lastLine}\n`);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://double');
    const route = PATH.exec(url.pathname);
    const q = url.searchParams;
    const plural = route?.[2] ?? '';
    const verb = route?.[3]
      ? 'get'
      : q.get('watch') === '1' || q.get('watch') === 'true'
        ? 'watch'
        : 'list';
    const seen: RequestSeen = {
      verb,
      plural,
      query: q,
      status: 200,
      authorization: req.headers.authorization,
    };
    this.requests.push(seen);
    const fail = (code: number, reason: string, message: string) => {
      seen.status = code;
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message,
          reason,
          code,
        }),
      );
    };
    if (req.headers.authorization !== `Bearer ${this.token}`)
      return fail(401, 'Unauthorized', 'Unauthorized');
    if (!route || !this.stores.has(plural))
      return fail(404, 'NotFound', `the server could not find the requested resource`);
    const namespace = route[1] ? decodeURIComponent(route[1]) : undefined;
    if (this.forbidden.has(`${verb} ${plural}`)) {
      const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
      return fail(
        403,
        'Forbidden',
        `${plural} is forbidden: User "system:serviceaccount:rstscope:rstscope-agent" cannot ${verb} resource "${plural}" in API group "" ${scope}`,
      );
    }
    if (verb === 'get') {
      const object = this.store(plural).get(`${namespace}/${decodeURIComponent(route[3]!)}`);
      if (!object) return fail(404, 'NotFound', `${plural} "${route[3]}" not found`);
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(object));
    }
    const filter = {
      namespace,
      fieldSelector: q.get('fieldSelector') ?? undefined,
      labelSelector: q.get('labelSelector') ?? undefined,
    };
    if (verb === 'list') return this.list(plural, filter, q, res, fail);
    const from = Number(q.get('resourceVersion') ?? '0');
    if (from < this.compactedRv) {
      const message = `too old resource version: ${from} (${this.resourceVersion})`;
      if (this.goneAs === 'http') return fail(410, 'Expired', message);
      res.writeHead(200, { 'content-type': 'application/json' });
      seen.status = 410;
      return void res.end(
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Expired', code: 410 } })}\n`,
      );
    }
    const watcher: Watcher = {
      plural,
      ...filter,
      bookmarks: q.get('allowWatchBookmarks') === 'true',
      res,
    };
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    this.watchers.add(watcher);
    res.on('close', () => this.watchers.delete(watcher));
    for (const event of this.history[plural] ?? []) if (event.rv > from) this.send(watcher, event);
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    if (timeout > 0)
      setTimeout(
        () => this.watchers.has(watcher) && this.endWatch(watcher),
        timeout * 1000,
      ).unref();
  }

  private list(
    plural: string,
    filter: Omit<Watcher, 'plural' | 'bookmarks' | 'res'>,
    q: URLSearchParams,
    res: ServerResponse,
    fail: (code: number, reason: string, message: string) => void,
  ): void {
    let snapshot: { rv: number; items: KubeObject[] };
    let offset = 0;
    const token = q.get('continue');
    if (token) {
      const [id = '', at = '0'] = Buffer.from(token, 'base64url').toString().split(':');
      const kept = this.snapshots.get(id);
      if (!kept || kept.rv < this.compactedRv) {
        return fail(
          410,
          'Expired',
          'The provided continue parameter is too old to display a consistent list result.',
        );
      }
      snapshot = kept;
      offset = Number(at);
    } else {
      const items = this.items(plural)
        .filter((o) => matches(o, filter))
        .sort((a, b) => key(a).localeCompare(key(b)));
      snapshot = { rv: this.resourceVersion, items: structuredClone(items) };
    }
    const limit = Number(q.get('limit') ?? '0') || snapshot.items.length;
    const page = snapshot.items.slice(offset, offset + limit);
    const metadata: { resourceVersion: string; continue?: string } = {
      resourceVersion: String(snapshot.rv),
    };
    if (offset + limit < snapshot.items.length) {
      const id = token
        ? Buffer.from(token, 'base64url').toString().split(':')[0]!
        : String(this.snapshots.size + 1);
      this.snapshots.set(id, snapshot);
      metadata.continue = Buffer.from(`${id}:${offset + limit}`).toString('base64url');
    }
    const kind = Object.keys(PLURALS).find((k) => PLURALS[k] === plural);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind, apiVersion: 'v1', metadata, items: page }));
  }
}

function key(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return namespace ? `${namespace}/${name}` : name;
}

/** The subset of selectors the tests use: a=b, a==b, a!=b (fields by dotted path), and label existence. */
function matches(
  object: KubeObject,
  filter: { namespace?: string; fieldSelector?: string; labelSelector?: string },
): boolean {
  if (filter.namespace && object.metadata.namespace !== filter.namespace) return false;
  const field = (path: string) =>
    String(
      path
        .split('.')
        .reduce<unknown>((v, part) => (v as Record<string, unknown> | undefined)?.[part], object) ??
        '',
    );
  const label = (name: string) => object.metadata.labels?.[name];
  const holds = (selector: string | undefined, read: (k: string) => string | undefined) =>
    (selector ?? '')
      .split(',')
      .filter(Boolean)
      .every((term) => {
        const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term);
        if (!m) return read(term) !== undefined;
        return m[2] === '!=' ? read(m[1]!) !== m[3] : read(m[1]!) === m[3];
      });
  return holds(filter.fieldSelector, field) && holds(filter.labelSelector, label);
}
