// The agent's Kubernetes side, wired: this node's pods from the API, the
// host's cgroup hierarchy, and the step that names each reset's pod. Naming
// is an enrichment: an API that is down, slow or forbids us costs names,
// never resets, and is said once in the log while the reflector retries.
import type { Logger } from 'pino';
import { KubeClient, OwnerLookup } from '../../k8s/index.js';
import type { KubeConfig } from '../../k8s/index.js';
import { AgentConfigError } from '../errors.js';
import { AttributionStep } from './attribution-step.js';
import type { AttributionStepOptions } from './attribution-step.js';
import { CgroupIndex } from './cgroup-index.js';
import { checkCgroupV2Root, localCgroupV2Root } from './cgroup-mount.js';
import { PodAttribution } from './pod-attribution.js';
import { PodCache } from './pod-cache.js';

export interface KubeNamingOptions {
  kube: KubeConfig;
  /** This node's name as the API knows it (spec.nodeName of its pods). */
  nodeName: string;
  /** The host's cgroup v2 mount; undefined: this process's own, found in mountinfo. */
  cgroupRoot: string | undefined;
  log: Logger;
}

export class KubeNaming {
  private constructor(
    readonly pods: PodCache,
    readonly cgroups: CgroupIndex | undefined,
    private readonly attribution: PodAttribution,
  ) {}

  /**
   * Starts listing this node's pods and walking the cgroup hierarchy; returns
   * at once, without waiting for the API. A --cgroup-root that is not a cgroup
   * v2 mount is a configuration error (AgentConfigError).
   */
  static async start(options: KubeNamingOptions): Promise<KubeNaming> {
    const { kube, nodeName, log } = options;
    const cgroups = await cgroupIndex(options.cgroupRoot, log);
    const client = new KubeClient(kube);
    let told = false;
    const pods = new PodCache(client, {
      nodeName,
      owners: new OwnerLookup(client),
      error(err) {
        // The reflector retries with backoff for as long as it takes; once is enough to say so.
        if (told) return;
        told = true;
        log.warn(
          { kubeApi: kube.server.origin },
          `pods not named for now: ${(err as Error).message}; resets go on without pod names, retrying`,
        );
      },
    });
    void pods.synced.then(() =>
      log.info(
        { kubeApi: kube.server.origin, node: nodeName, pods: pods.pods().length },
        `naming pods of node ${nodeName} from ${kube.server.origin}`,
      ),
    );
    if (cgroups) {
      // Warm the index so that the first resets of existing pods need no walk.
      void cgroups.rewalk().then(() => {
        const { lastError } = cgroups.stats();
        if (lastError) log.warn({ cgroupRoot: cgroups.root }, `containers not named: ${lastError}`);
      });
    }
    return new KubeNaming(pods, cgroups, new PodAttribution(pods, cgroups));
  }

  /** The step to put between the decoder and publishing/printing. */
  step(options: Omit<AttributionStepOptions, 'resolve'>): AttributionStep {
    const cgroups = this.cgroups;
    return new AttributionStep(this.attribution, {
      ...options,
      resolve: (ids) =>
        cgroups ? Promise.all(ids.map((id) => cgroups.resolveNext(id))) : Promise.resolve(),
    });
  }

  stop(): Promise<void> {
    return this.pods.stop();
  }
}

async function cgroupIndex(explicit: string | undefined, log: Logger) {
  if (explicit !== undefined) {
    try {
      await checkCgroupV2Root(explicit);
    } catch (err) {
      throw new AgentConfigError(`--cgroup-root: ${(err as Error).message}`, { cause: err });
    }
    return new CgroupIndex({ root: explicit });
  }
  const found = localCgroupV2Root();
  if (found === undefined) {
    log.warn('no cgroup v2 mount found: pods named by address only; set --cgroup-root');
    return undefined;
  }
  return new CgroupIndex({ root: found });
}
