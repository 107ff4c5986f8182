// The Kubernetes API client against a DOUBLE of the API server (test/lab/kube-api-double.ts):
// recorded list and watch responses served over HTTP on 127.0.0.1, not a cluster.
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Pod, WatchEvent, Reflector } from '../k8s/index.js';
import {
  KubeClient,
  KubeConfigError,
  KubeForbiddenError,
  KubeGoneError,
  KubeUnauthorizedError,
  KubeUnreachableError,
  PODS,
  REPLICA_SETS,
  fixedToken,
  inClusterConfig,
  reflect,
  tokenFile,
} from '../k8s/index.js';
import { makeTestCertificates } from './lab/certificates.js';
import { freePort } from './lab/free-port.js';
import { KubeApiDouble } from './lab/kube-api-double.js';
import { until } from './lab/until.js';

const NODE_A = 'spec.nodeName=node-a';
const FAST = { backoff: { initialMs: 10, maxMs: 50 } };

let double: KubeApiDouble;
let dir: string;
const reflectors: Reflector<Pod>[] = [];

beforeEach(async () => {
  double = await KubeApiDouble.start({
    token: 'token-1',
    lists: ['pods.json', 'replicasets.json'],
  });
  dir = await mkdtemp(join(tmpdir(), 'rstscope-kube-'));
});

afterEach(async () => {
  await Promise.all(reflectors.splice(0).map((r) => r.stop()));
  await double.close();
  await rm(dir, { recursive: true, force: true });
});

function client(token = 'token-1'): KubeClient {
  return new KubeClient({ server: new URL(double.url), token: fixedToken(token) });
}

function names(pods: Iterable<Pod>): string[] {
  return [...pods].map((p) => p.metadata.name).sort();
}

const NODE_A_PODS = [
  'checkout-7d9f8b6c5d-x2x7q',
  'debug-shell',
  'node-exporter-7xk2p',
  'payments-0',
  'report-28930140-q8x2z',
];

describe('list', () => {
  it('follows continue page after page and keeps the snapshot resourceVersion', async () => {
    const listing = await client().list<Pod>(PODS, { limit: 2 });
    expect(listing.items).toHaveLength(7);
    expect(listing.resourceVersion).toBe('48213');
    const lists = double.requests.filter((r) => r.verb === 'list');
    expect(lists.map((r) => r.query.get('limit'))).toEqual(['2', '2', '2', '2']);
    expect(lists[0]!.query.get('continue')).toBeNull();
    expect(lists.slice(1).every((r) => r.query.get('continue'))).toBe(true);
  });

  it('passes the field selector: only this node’s pods', async () => {
    const listing = await client().list<Pod>(PODS, { fieldSelector: NODE_A });
    expect(names(listing.items)).toEqual(NODE_A_PODS);
  });

  it('a 403 names the RBAC verb and resource that are missing, in one line', async () => {
    double.forbid('list', 'pods');
    const err = await client()
      .list(PODS, { namespace: 'shop' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeForbiddenError);
    expect((err as Error).message).toMatch(
      /^RBAC forbids list pods in namespace shop: grant verb "list" on "pods" to the service account's ClusterRole \(the API said: pods is forbidden: .*\)$/,
    );
    double.forbid('get', 'replicasets');
    const get = await client()
      .get(REPLICA_SETS, 'shop', 'checkout-7d9f8b6c5d')
      .catch((e: unknown) => e);
    expect((get as Error).message).toMatch(
      /^RBAC forbids get replicasets.apps in namespace shop: grant verb "get" on "replicasets.apps"/,
    );
  });

  it('a wrong token is a 401 that says to check the token', async () => {
    const err = await client('stolen')
      .list(PODS)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeUnauthorizedError);
    expect((err as Error).message).toBe(
      `the Kubernetes API at ${double.url} refused the token (401 Unauthorized) on list pods: check the service account token is mounted and current`,
    );
  });

  it('an API server that is not there is named by its URL', async () => {
    const port = await freePort();
    const absent = new KubeClient({
      server: new URL(`http://127.0.0.1:${port}`),
      token: fixedToken('x'),
    });
    const err = await absent.list(PODS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeUnreachableError);
    expect((err as Error).message).toBe(
      `cannot reach the Kubernetes API at http://127.0.0.1:${port}: connection refused`,
    );
    expect((err as Error).cause).toBeDefined();
  });
});

describe('watch', () => {
  it('streams events after the resourceVersion, with bookmarks that advance it', async () => {
    const seen: WatchEvent<Pod>[] = [];
    const abort = new AbortController();
    const done = (async () => {
      for await (const e of client().watch<Pod>(PODS, '48213', {
        fieldSelector: NODE_A,
        signal: abort.signal,
      }))
        seen.push(e);
    })().catch((err: unknown) => err);
    await until(() => double.openWatches === 1, 'the watch to open');
    double.replay('pods', 'watch-pods-node-a.ndjson');
    const err = await done;
    expect(err).toBeInstanceOf(KubeGoneError);
    expect((err as Error).message).toMatch(
      /^watch pods: the resourceVersion is too old \(410 Gone\)/,
    );
    expect(seen.map((e) => [e.type, e.object.metadata.resourceVersion])).toEqual([
      ['ADDED', '48220'],
      ['MODIFIED', '48231'],
      ['BOOKMARK', '48240'],
      ['DELETED', '48252'],
    ]);
    const watch = double.requests.find((r) => r.verb === 'watch')!;
    expect(watch.query.get('allowWatchBookmarks')).toBe('true');
    expect(watch.query.get('resourceVersion')).toBe('48213');
    expect(Number(watch.query.get('timeoutSeconds'))).toBeGreaterThan(0);
  });

  it('a stale resourceVersion answered as HTTP 410 is KubeGoneError too', async () => {
    double.replay('pods', 'watch-pods-node-a.ndjson');
    double.goneAs = 'http';
    const events = client().watch<Pod>(PODS, '48213');
    await expect(events.next()).rejects.toBeInstanceOf(KubeGoneError);
  });
});

describe('reflect', () => {
  it('lists, then applies watched changes; a bookmark moves the resourceVersion', async () => {
    const upserts: string[] = [];
    const removes: string[] = [];
    const r = reflect<Pod>(
      client(),
      PODS,
      {
        upsert: (p) => void upserts.push(p.metadata.name),
        remove: (p) => void removes.push(p.metadata.name),
      },
      { fieldSelector: NODE_A, ...FAST },
    );
    reflectors.push(r);
    await r.synced;
    expect(names(r.items.values())).toEqual(NODE_A_PODS);
    await until(() => double.openWatches === 1, 'the watch to open');
    const pod = structuredClone(r.items.get('default/debug-shell')!);
    pod.metadata.labels = { run: 'debug-shell', team: 'sre' };
    double.put('pods', pod);
    double.delete('pods', 'shop', 'payments-0');
    await until(() => removes.length === 1, 'the deletion');
    expect(r.items.get('default/debug-shell')!.metadata.labels).toEqual({
      run: 'debug-shell',
      team: 'sre',
    });
    expect(r.items.has('shop/payments-0')).toBe(false);
    expect(removes).toEqual(['payments-0']);
    expect(upserts.filter((n) => n === 'debug-shell')).toHaveLength(2);

    // A change to another resource moves the server's resourceVersion past this watch's last event.
    double.put('replicasets', { metadata: { name: 'other', namespace: 'shop', uid: 'u' } });
    double.bookmark('pods');
    await until(() => r.stats.bookmarks === 1, 'the bookmark');
    expect(r.resourceVersion).toBe(String(double.resourceVersion));
  });

  it('a 410 relists and the Map converges on the server, changes missed while away included', async () => {
    const r = reflect<Pod>(client(), PODS, {}, { fieldSelector: NODE_A, ...FAST });
    reflectors.push(r);
    await r.synced;
    await until(() => double.openWatches === 1, 'the watch to open');
    // Changes no watch ever delivers: only a fresh list can tell of them.
    const unseen = structuredClone(
      double.items('pods').find((p) => p.metadata.name === 'payments-0')!,
    );
    double.changeUnseen('pods', 'DELETED', unseen);
    double.replay('pods', 'watch-pods-node-a.ndjson');
    await until(
      () => r.stats.relists === 1 && double.openWatches === 1,
      'the relist and a new watch',
    );
    const expected = double.items('pods').filter((p) => (p as Pod).spec?.nodeName === 'node-a');
    expect(names(r.items.values())).toEqual(names(expected as Pod[]));
    expect(r.items.has('shop/payments-0')).toBe(false);
    expect(r.items.has('shop/checkout-7d9f8b6c5d-m4n8d')).toBe(true);
    expect(r.items.has('default/debug-shell')).toBe(false);
    expect(r.resourceVersion).toBe(String(double.resourceVersion));
    expect(r.stats.errors).toBe(0);

    // The same after an HTTP 410 and a server-side end of the watch.
    double.goneAs = 'http';
    double.changeUnseen(
      'pods',
      'DELETED',
      structuredClone(r.items.get('monitoring/node-exporter-7xk2p')!),
    );
    double.endWatches();
    await until(() => r.stats.relists === 2, 'the second relist');
    await until(() => !r.items.has('monitoring/node-exporter-7xk2p'), 'the missed deletion');
  });

  it('a refused list is reported once per try and retried with backoff until RBAC allows it', async () => {
    double.forbid('list', 'pods');
    const errors: unknown[] = [];
    const r = reflect<Pod>(client(), PODS, { error: (e) => errors.push(e) }, FAST);
    reflectors.push(r);
    await until(() => errors.length >= 2, 'two refused lists');
    expect(errors[0]).toBeInstanceOf(KubeForbiddenError);
    expect(r.items.size).toBe(0);
  });
});

describe('config', () => {
  it('re-reads a rotated token: at once on a 401, and on its own after the refresh period', async () => {
    const file = join(dir, 'token');
    await writeFile(file, 'token-1\n');
    let now = 0;
    const rotating = new KubeClient({
      server: new URL(double.url),
      token: tokenFile(file, 60_000, () => now),
    });
    await rotating.list(PODS);
    double.token = 'token-2';
    await writeFile(file, 'token-2\n');
    await rotating.list(PODS);
    expect(double.requests.map((r) => [r.status, r.authorization])).toEqual([
      [200, 'Bearer token-1'],
      [401, 'Bearer token-1'],
      [200, 'Bearer token-2'],
    ]);
    double.token = 'token-3';
    await writeFile(file, 'token-3');
    now = 60_000;
    await rotating.list(PODS);
    expect(double.requests.at(-1)).toMatchObject({ status: 200, authorization: 'Bearer token-3' });
    expect(double.requests).toHaveLength(4);
  });

  it('reads the in-cluster service account, bracketing an IPv6 API address', async () => {
    await writeFile(join(dir, 'token'), 'sa-token\n');
    await writeFile(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\n');
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const config = inClusterConfig({ env, serviceAccountDir: dir });
    expect(config.server.origin).toBe('https://10.96.0.1');
    expect(config.token.current()).toBe('sa-token');
    expect(config.ca?.toString()).toContain('BEGIN CERTIFICATE');
    const v6 = inClusterConfig({
      env: { KUBERNETES_SERVICE_HOST: 'fd00:96::1', KUBERNETES_SERVICE_PORT: '6443' },
      serviceAccountDir: dir,
    });
    expect(v6.server.origin).toBe('https://[fd00:96::1]:6443');
  });

  it('says what is missing outside a pod or without the service account', async () => {
    expect(() => inClusterConfig({ env: {}, serviceAccountDir: dir })).toThrow(
      new KubeConfigError(
        'not in a Kubernetes pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset (run in a pod, or give the API URL explicitly)',
      ),
    );
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    expect(() => inClusterConfig({ env, serviceAccountDir: dir })).toThrow(
      `${join(dir, 'ca.crt')}: cannot read the cluster CA (no such file); is automountServiceAccountToken false?`,
    );
    await writeFile(join(dir, 'ca.crt'), 'pem');
    await writeFile(join(dir, 'token'), '\n');
    expect(() => inClusterConfig({ env, serviceAccountDir: dir })).toThrow(
      `${join(dir, 'token')}: the service account token is empty`,
    );
  });

  it('in a pod: HTTPS to the API server, trusting only the service account CA', async () => {
    const certs = await makeTestCertificates();
    const tlsDouble = await KubeApiDouble.start({
      token: 'sa-token',
      lists: ['pods.json'],
      tls: certs.server,
    });
    try {
      await writeFile(join(dir, 'token'), 'sa-token\n');
      await copyFile(certs.ca, join(dir, 'ca.crt'));
      const env = {
        KUBERNETES_SERVICE_HOST: '127.0.0.1',
        KUBERNETES_SERVICE_PORT: new URL(tlsDouble.url).port,
      };
      const inCluster = new KubeClient(inClusterConfig({ env, serviceAccountDir: dir }));
      expect((await inCluster.list<Pod>(PODS)).items).toHaveLength(7);

      await copyFile(certs.otherCa, join(dir, 'ca.crt'));
      const untrusting = new KubeClient(inClusterConfig({ env, serviceAccountDir: dir }));
      const err = await untrusting.list(PODS).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KubeUnreachableError);
      expect((err as Error).message).toMatch(
        /^cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:\d+: its certificate does not verify against the cluster CA given \([A-Z_]+\)$/,
      );
    } finally {
      await tlsDouble.close();
      await certs.remove();
    }
  });
});
