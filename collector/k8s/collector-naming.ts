// The collector's naming, started from its config: the Kubernetes address map
// (when the API is configured), the inventory (when given), the namer the
// ingester and WatchResets use, and the writer of the addresses table. None of
// it stands in the way of storing resets: the API may be slow or unreachable,
// and then ends are stored unnamed while the reflectors keep retrying.
import type { Logger } from 'pino';
import { KubeClient, OwnerLookup } from '../../k8s/index.js';
import type { KubeConfig } from '../../k8s/index.js';
import type { Storage } from '../storage/storage.js';
import { AddressMap } from './address-map.js';
import { AddressTable } from './address-table.js';
import { FlowEndNamer } from './flow-ends.js';
import type { NameFlowEnds } from './flow-ends.js';
import type { Inventory } from './inventory.js';

export interface CollectorNaming {
  /** Names both ends: at least the agent's pod as the local end, even with no API and no inventory. */
  nameEnds: NameFlowEnds;
  stop(): Promise<void>;
}

export interface CollectorNamingOptions {
  kube?: KubeConfig;
  inventory?: Inventory;
  storage: Pick<Storage, 'insert'>;
  log: Logger;
  /** Test hooks: the table writer's timings. */
  flushEveryMs?: number;
  restampEveryMs?: number;
}

export function startCollectorNaming(options: CollectorNamingOptions): CollectorNaming {
  const { kube, inventory, log } = options;
  // Agents in pods name their own pod: that is stored as the local end even
  // when this collector has neither an API nor an inventory to name from.
  if (!kube && !inventory)
    return { nameEnds: new FlowEndNamer(undefined, undefined).ends, stop: async () => {} };
  let map: AddressMap | undefined;
  if (kube) {
    const client = new KubeClient(kube);
    // One line while the API fails, and one when it answers again, not one per retry.
    let failing = false;
    map = new AddressMap(client, {
      owners: new OwnerLookup(client),
      error: (err) => {
        if (failing) return;
        failing = true;
        log.warn(
          `Kubernetes API ${kube.server.origin}: ${firstLine(err)}; storing resets without pod and service names until it answers (retrying)`,
        );
      },
    });
    void map.synced.then(() => {
      if (failing) log.info(`Kubernetes API ${kube.server.origin} answers again`);
      failing = false;
      log.info(
        { mappings: map!.history().length },
        `naming pods, services and nodes from ${kube.server.origin}`,
      );
    });
  }
  if (inventory) log.info({ entries: inventory.size }, 'naming addresses from the inventory');
  const table = new AddressTable({
    storage: options.storage,
    map,
    inventory,
    log,
    flushEveryMs: options.flushEveryMs,
    restampEveryMs: options.restampEveryMs,
  });
  table.start();
  const namer = new FlowEndNamer(map, inventory);
  return {
    nameEnds: namer.ends,
    stop: async () => {
      await map?.stop();
      await table.stop();
    },
  };
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
