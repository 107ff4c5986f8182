// The collector's address → pod / service / node map, kept in step with the
// API server by four reflectors (Pods, Services, EndpointSlices, Nodes, all
// namespaces), with the inventory behind it for addresses outside the cluster.
import type {
  EndpointSlice,
  KubeClient,
  KubeNode,
  KubeObject,
  KubeResource,
  OwnerLookup,
  Pod,
  ReflectOptions,
  Reflector,
  Service,
} from '../../k8s/index.js';
import {
  ENDPOINT_SLICES,
  NODES,
  PODS,
  SERVICES,
  objectKey,
  reflect,
  workloadOf,
} from '../../k8s/index.js';
import type { AddressMapping, SeenMapping } from './address-book.js';
import { AddressBook } from './address-book.js';
import type { Attribution } from './attribution.js';
import { attribute } from './attribution.js';
import type { Inventory } from './inventory.js';
import {
  endpointSliceAddresses,
  nodeAddresses,
  podAddresses,
  serviceAddresses,
} from './kube-addresses.js';

export interface AddressMapOptions extends Pick<
  ReflectOptions,
  'backoff' | 'watchTimeoutSeconds' | 'pageSize'
> {
  owners: OwnerLookup;
  inventory?: Inventory;
  /** The clock for first/last seen; tests set it. */
  now?: () => number;
  retentionMs?: number;
  error?: (err: unknown) => void;
}

export class AddressMap {
  readonly book: AddressBook;
  private readonly reflectors: Pick<Reflector<KubeObject>, 'synced' | 'stop'>[];

  constructor(
    client: KubeClient | undefined,
    private readonly options: AddressMapOptions,
  ) {
    this.book = new AddressBook(options.now, options.retentionMs);
    if (!client) {
      this.reflectors = [];
      return;
    }
    const reflectOptions: ReflectOptions = {
      backoff: options.backoff,
      watchTimeoutSeconds: options.watchTimeoutSeconds,
      pageSize: options.pageSize,
    };
    const follow = <T extends KubeObject>(
      kind: string,
      resource: KubeResource,
      mappings: (object: T) => AddressMapping[] | Promise<AddressMapping[]>,
    ) =>
      reflect<T>(
        client,
        resource,
        {
          upsert: async (object) =>
            this.book.set(`${kind}/${objectKey(object)}`, await mappings(object)),
          remove: (object) => this.book.remove(`${kind}/${objectKey(object)}`),
          error: options.error,
        },
        reflectOptions,
      );
    this.reflectors = [
      follow<Pod>('Pod', PODS, async (pod) =>
        podAddresses(pod, await workloadOf(pod, options.owners)),
      ),
      follow<Service>('Service', SERVICES, serviceAddresses),
      follow<EndpointSlice>('EndpointSlice', ENDPOINT_SLICES, endpointSliceAddresses),
      follow<KubeNode>('Node', NODES, nodeAddresses),
    ];
    // Until every kind is listed, what the book learns held before we saw it.
    void this.synced.then(() => this.book.listed());
  }

  /** Resolves once every kind has been listed once. */
  get synced(): Promise<void> {
    return Promise.all(this.reflectors.map((r) => r.synced)).then(() => undefined);
  }

  /** Who `address` (and `port`) is now, or at `time` (ms since the epoch). */
  lookup(address: string, port?: number, time?: number): Attribution | undefined {
    return attribute(this.book, this.options.inventory, address, port, time);
  }

  /** Every mapping with its first and last seen time, ended ones included. */
  history(): SeenMapping[] {
    return this.book.history();
  }

  async stop(): Promise<void> {
    await Promise.all(this.reflectors.map((r) => r.stop()));
  }
}
