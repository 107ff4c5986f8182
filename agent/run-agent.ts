// `rstscope agent`: config → checks → loader → (name pods) → print or publish every reset → counters.
import { pino } from 'pino';
import { DEFAULT_STREAM_LIMITS } from '../proto/nats-topology.js';
import { agentVersion } from './agent-version.js';
import { assertCapabilities } from './capabilities.js';
import type { AgentConfig } from './config.js';
import { decodeWireRecords } from './event-decoder.js';
import type { DecodeContext } from './event-decoder.js';
import { countersJson, countersTable, formatResetLine } from './format.js';
import { readHostIdentity } from './host-identity.js';
import type { AttributionStep } from './k8s/attribution-step.js';
import { KubeNaming } from './k8s/kube-naming.js';
import { LoaderProcess } from './loader-process.js';
import type { KernelCounters } from './loader-frames.js';
import { netnsNames, resolveNetns } from './netns.js';
import { AgentPublishing } from './publish/agent-publishing.js';
import { DEFAULT_BATCH_MAX_BYTES, DEFAULT_BATCH_MAX_EVENTS } from './publish/batch-builder.js';
import type { AgentTotals } from './publish/heartbeat.js';
import { toResetAggregate } from './publish/storm-aggregates.js';
import { toResetEvent } from './reset-event.js';
import type { WireResetEvent } from '../proto/index.js';

export async function runAgent(config: AgentConfig): Promise<number> {
  const log = pino({ name: 'rstscope-agent' }, pino.destination(2));
  assertCapabilities();
  const runId = String(Date.now());
  const netnsInodes = config.netns.map(resolveNetns);
  const identity = readHostIdentity(config.host);
  // Before the loader: a --cgroup-root that is no cgroup v2 mount fails here, as a config error.
  const naming = config.kube
    ? await KubeNaming.start({
        kube: config.kube,
        nodeName: config.nodeName,
        cgroupRoot: config.cgroupRoot,
        log,
      })
    : undefined;
  const publishing = config.nats.length > 0;
  // Printing is the agent's job without NATS; with NATS only on request (--json).
  const printing = !publishing || config.json;
  let names = netnsNames();
  let delivered = 0;
  // Set once the loader's hello names the kernel's enums; no batch comes earlier.
  const decode: { ctx?: DecodeContext; publisher?: AgentPublishing } = {};
  let crashed = false;
  const early: Array<[Buffer, number, bigint]> = [];
  // Likewise a counters frame's storm sums: drained from the kernel once, so kept.
  const earlyAggregates: KernelCounters['aggregates'][number][] = [];
  const deliver = (payload: Buffer, recordsAt: number, realtimeOffsetNs: bigint) => {
    const events = decodeWireRecords(payload, recordsAt, realtimeOffsetNs, decode.ctx!);
    delivered += events.length;
    if (step) step.accept(events);
    else pass(events);
  };
  const pass = (events: WireResetEvent[]) => {
    decode.publisher?.accept(events);
    if (printing) print(events);
  };
  const step: AttributionStep | undefined = naming?.step({
    deliver: pass,
    error: (err) => log.error({ err }, 'passing on a named batch failed'),
  });

  const loader = new LoaderProcess(
    {
      path: config.loaderPath,
      netnsInodes,
      ringbufMb: config.ringbufMb,
      aggregateSlots: config.aggregateSlots,
      assumeNoReason: config.assumeNoReason,
    },
    {
      onBatch(payload, recordsAt, realtimeOffsetNs) {
        if (!decode.ctx) {
          // Frames that came in the hello's chunk, before start() resolved: kept,
          // not lost uncounted (an agent started mid-storm lost a few this way).
          early.push([Buffer.from(payload), recordsAt, realtimeOffsetNs]);
          return;
        }
        deliver(payload, recordsAt, realtimeOffsetNs);
      },
      onCounters(counters) {
        decode.publisher?.updateKernelCounters(counters);
        // Each frame's aggregates are drained once, so they are added here only.
        if (!decode.ctx) earlyAggregates.push(...counters.aggregates);
        else if (decode.publisher && counters.aggregates.length) {
          const names = decode.ctx.rstReasons;
          decode.publisher.addAggregates(
            counters.aggregates.map((a) => toResetAggregate(a, names)),
          );
        }
      },
      onNote(line) {
        log.warn({ loader: line }, 'loader note');
      },
      onCrash(error) {
        crashed = true;
        log.error({ err: error }, error.message);
        stop();
      },
    },
  );

  function print(wire: WireResetEvent[]): void {
    if (wire.some((e) => !names.has(e.netns))) names = netnsNames();
    const { host, bootId } = identity;
    const text = wire
      .map((w) => {
        const e = toResetEvent(w, host, bootId);
        return config.json ? JSON.stringify(e) : formatResetLine(e, names.get(e.netns));
      })
      .join('\n');
    if (!process.stdout.write(`${text}\n`)) {
      // A slow reader of our output must not grow our memory: push back.
      loader.pause();
      process.stdout.once('drain', () => loader.resume());
    }
  }

  let hello;
  try {
    hello = await loader.start();
  } catch (err) {
    // The pod cache retries the API forever: left running, it would keep a failed agent alive.
    await naming?.stop();
    throw err;
  }
  decode.ctx = {
    host: identity.host,
    bootId: identity.bootId,
    rstReasons: hello.rst_reasons,
    dropReasons: hello.drop_reasons,
  };
  if (publishing) {
    decode.publisher = new AgentPublishing({
      servers: config.nats,
      auth: config.natsAuth,
      identity: {
        host: identity.host,
        bootId: identity.bootId,
        runId,
        agentVersion: agentVersion(),
        kernelRelease: hello.kernel_release,
        startedAtNs: BigInt(runId) * 1_000_000n,
      },
      coverage: coverage(netnsInodes, names),
      // Pods are covered only when every namespace is.
      knownAddresses:
        naming && netnsInodes.length === 0 ? () => naming.pods.podNetworkIps() : undefined,
      batch: {
        maxEvents: DEFAULT_BATCH_MAX_EVENTS,
        maxBytes: DEFAULT_BATCH_MAX_BYTES,
        maxDelayMs: config.batchDelayMs,
      },
      outboxMaxBytes: config.bufferBytes,
      streamLimits: DEFAULT_STREAM_LIMITS,
      log,
    });
    decode.publisher.start();
  }
  for (const batch of early.splice(0)) deliver(...batch);
  if (decode.publisher && earlyAggregates.length) {
    const names = hello.rst_reasons;
    decode.publisher.addAggregates(earlyAggregates.map((a) => toResetAggregate(a, names)));
  }
  const scope = netnsInodes.length ? `namespaces ${config.netns.join(', ')}` : 'every namespace';
  log.info(
    {
      host: identity.host,
      kernel: hello.kernel_release,
      features: hello.features,
      netns: netnsInodes,
      nats: config.nats,
      kubeApi: config.kube?.server.origin,
      node: config.kube ? config.nodeName : undefined,
      cgroupRoot: naming?.cgroups?.root,
    },
    `capturing resets on ${scope}`,
  );
  if (!config.json) {
    const where = publishing ? `publishing to ${config.nats.join(',')}` : 'printing';
    process.stderr.write(
      `rstscope agent: capturing resets on ${scope} of ${identity.host}, ${where}; Ctrl-C to stop\n`,
    );
  }

  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  function stop() {
    resolveDone();
  }
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const timer = config.durationS > 0 ? setTimeout(stop, config.durationS * 1000) : undefined;
  await done;
  clearTimeout(timer);

  const counters = await loader.stop();
  // Batches still waiting for a cgroup walk go out before publishing stops.
  await step?.flushed();
  await naming?.stop();
  let publish: AgentTotals | undefined;
  if (decode.publisher) {
    if (counters) decode.publisher.updateKernelCounters(counters);
    publish = await decode.publisher.stop();
    if (publish.droppedAgent > 0) {
      log.warn({ dropped: publish.droppedAgent }, 'resets dropped in the agent (publish buffer)');
    }
  }
  const summary = { counters, delivered, publish };
  process.stderr.write(
    `${config.json ? countersJson(summary, hello.rst_reasons) : countersTable(summary, hello.rst_reasons, names)}\n`,
  );
  return crashed ? 1 : 0;
}

function coverage(inodes: number[], names: Map<number, string>) {
  const all = inodes.length === 0;
  const covered = all ? [...names.keys()] : inodes;
  return { all, netns: covered.map((inode) => ({ inode, name: names.get(inode) ?? '' })) };
}
