// The agent's publishing side: events → batches → outbox → JetStream, plus the
// heartbeats. accept() is synchronous and bounded, so the loader's drain never
// waits on the network.
import type { Logger } from 'pino';
import { heartbeatCodec } from '../../proto/index.js';
import type { WireResetEvent } from '../../proto/index.js';
import { agentsSubject } from '../../proto/nats-topology.js';
import type { StreamLimits } from '../../proto/nats-topology.js';
import { coveredAddresses } from '../covered-addresses.js';
import { NetnsProcesses } from '../netns-processes.js';
import type { KernelCounters } from '../loader-frames.js';
import { BatchBuilder } from './batch-builder.js';
import type { BatchLimits, EncodedBatch } from './batch-builder.js';
import { HEARTBEAT_INTERVAL_S, buildHeartbeat } from './heartbeat.js';
import type { AgentTotals, HeartbeatIdentity } from './heartbeat.js';
import { JetStreamPublisher } from './jetstream-publisher.js';
import { KernelSentResets, seenSentByNetns } from './kernel-sent-resets.js';
import { Outbox } from './outbox.js';
import { AggregateBuffer } from './storm-aggregates.js';
import type { ResetAggregate } from '../../proto/index.js';
import type { NatsAuth } from '../../proto/nats-auth-options.js';

/** On shutdown, how long buffered batches may take to reach JetStream. */
const DRAIN_ON_STOP_MS = 5_000;
/** ... and the last heartbeat: together well inside a supervisor's 15 s grace. */
const LAST_HEARTBEAT_TIMEOUT_MS = 2_000;

export interface PublishingOptions {
  servers: string[];
  /** TLS and credentials for NATS (default: none). */
  auth?: NatsAuth;
  identity: HeartbeatIdentity;
  /** Namespaces covered, with names where `ip netns` has one; all: the whole host. */
  coverage: { netns: { inode: number; name: string }[]; all: boolean };
  /**
   * Covered addresses known without reading a namespace: with every namespace
   * covered, this node's pod IPs from the Kubernetes API. Pods' processes usually
   * run as other users, whose namespaces the agent may not look into with its two
   * capabilities (netns-processes.ts).
   */
  knownAddresses?: () => string[];
  batch: BatchLimits;
  outboxMaxBytes: number;
  streamLimits: StreamLimits;
  log: Logger;
}

export class AgentPublishing {
  private readonly builder: BatchBuilder;
  private readonly outbox: Outbox;
  private readonly publisher: JetStreamPublisher;
  private readonly timers: NodeJS.Timeout[] = [];
  private kernel: KernelCounters | undefined;
  private decoded = 0;
  private heartbeats = 0;
  private readonly aggregates = new AggregateBuffer();
  /**
   * A heartbeat with storm aggregates that JetStream did not acknowledge. It is
   * sent again, same message id, before any other: if the first try did arrive,
   * the stream's duplicate window (15 min) drops the copy; if not, the
   * aggregates arrive late rather than never. One at a time, so memory stays
   * bounded; meanwhile new aggregates wait in the (bounded) buffer.
   */
  private unsent: { data: Uint8Array; msgID: string } | undefined;
  private cutLogged = false;
  private readonly kernelSent: KernelSentResets;
  private readonly processes = new NetnsProcesses();
  private unreadableLogged = false;
  private heartbeatInFlight: Promise<void> | undefined;

  constructor(private readonly options: PublishingOptions) {
    const { identity } = options;
    this.builder = new BatchBuilder(identity, options.batch);
    this.outbox = new Outbox(options.outboxMaxBytes);
    this.kernelSent = new KernelSentResets(
      options.coverage.netns,
      options.coverage.all,
      this.processes,
    );
    this.publisher = new JetStreamPublisher(this.outbox, {
      servers: options.servers,
      auth: options.auth,
      host: identity.host,
      bootId: identity.bootId,
      runId: identity.runId,
      streamLimits: options.streamLimits,
      log: options.log,
      // Announce coverage as soon as the stream can take it, not 10 s later.
      onStreamReady: () => void this.sendHeartbeat(),
    });
  }

  start(): void {
    this.publisher.start();
    const tick = Math.max(10, Math.min(100, this.options.batch.maxDelayMs / 2));
    this.timers.push(setInterval(() => this.enqueue(this.builder.flushIfDue(Date.now())), tick));
    this.timers.push(
      setInterval(() => void this.sendHeartbeat(), HEARTBEAT_INTERVAL_S * 1000).unref(),
    );
  }

  /** Events as the decoder makes them: the agent's hot path. */
  accept(events: readonly WireResetEvent[]): void {
    const now = Date.now();
    this.decoded += events.length;
    for (const event of events) {
      for (const batch of this.builder.add(event, now)) this.enqueue(batch);
    }
  }

  updateKernelCounters(counters: KernelCounters): void {
    this.kernel = counters;
  }

  /** Storm aggregates drained from the kernel, for the next heartbeat. */
  addAggregates(aggregates: readonly ResetAggregate[]): void {
    this.aggregates.add(aggregates);
    if (this.aggregates.cutResets > 0n && !this.cutLogged) {
      this.cutLogged = true;
      this.options.log.warn(
        { cut: this.aggregates.cutResets.toString() },
        'storm aggregates beyond the agent bound: their resets are in counters.aggregated only',
      );
    }
  }

  totals(): AgentTotals {
    const seen = this.kernel?.entries.reduce((sum, e) => sum + e.count, 0n) ?? 0n;
    return {
      seen,
      lostKernel: this.kernel?.lost ?? 0n,
      aggregated: this.kernel?.aggregated ?? 0n,
      aggregatesCut: this.aggregates.cutResets,
      decoded: this.decoded,
      droppedAgent: this.outbox.droppedEvents,
      published: this.publisher.publishedEvents,
      buffered: this.outbox.events + this.builder.pendingEvents,
      batchesPublished: this.publisher.publishedBatches,
      batchesDropped: this.outbox.droppedBatches,
    };
  }

  /** Flushes, drains for a few seconds, sends a last heartbeat, closes. */
  async stop(): Promise<AgentTotals> {
    this.timers.splice(0).forEach(clearInterval);
    this.enqueue(this.builder.flush());
    await this.publisher.drain(DRAIN_ON_STOP_MS);
    // No publish in flight from here on, so each event is published or dropped, not both.
    await this.publisher.stopPublishing();
    // Whatever could not be published before the deadline is lost with this process.
    this.outbox.discardAll();
    await this.heartbeatInFlight;
    await this.sendHeartbeat(LAST_HEARTBEAT_TIMEOUT_MS);
    await this.publisher.close();
    return this.totals();
  }

  private enqueue(batch: EncodedBatch | undefined): void {
    if (batch && !this.outbox.push(batch) && this.outbox.droppedBatches === 1) {
      this.options.log.warn(
        { max_bytes: this.options.outboxMaxBytes },
        'publish buffer full (NATS unreachable or slow): dropping batches, counted in heartbeats',
      );
    }
  }

  /**
   * One heartbeat at a time: a slow one (a retried unsent heartbeat, namespaces to
   * read, a 5 s publish) may outlast the 10 s tick, and two at once could each take
   * aggregates and the second's unsent one replace the first's, losing those sums.
   */
  private sendHeartbeat(timeoutMs = 5_000): Promise<void> {
    if (!this.heartbeatInFlight) {
      this.heartbeatInFlight = this.heartbeat(timeoutMs).finally(() => {
        this.heartbeatInFlight = undefined;
      });
    }
    return this.heartbeatInFlight;
  }

  private async heartbeat(timeoutMs: number): Promise<void> {
    const js = this.publisher.client;
    if (!js) return; // not connected yet: the next heartbeat carries the same totals
    const { identity, coverage } = this.options;
    // All namespaces: the agent's own ('host') and the named ones, as before.
    const namespaces = coverage.all ? coverage.netns.filter((n) => n.name) : coverage.netns;
    const subject = agentsSubject(identity.host);
    if (this.unsent) {
      try {
        await js.publish(subject, this.unsent.data, {
          msgID: this.unsent.msgID,
          timeout: timeoutMs,
        });
        this.unsent = undefined;
      } catch (error) {
        this.options.log.debug(
          { err: error },
          'heartbeat with storm aggregates still not published',
        );
      }
    }
    const covered = await coveredAddresses(namespaces, this.processes);
    const { unreadable } = covered;
    const addresses = [
      ...new Set([...covered.addresses, ...(this.options.knownAddresses?.() ?? [])]),
    ].sort();
    if (unreadable.length && !this.unreadableLogged) {
      this.unreadableLogged = true;
      this.options.log.warn(
        { netns: unreadable },
        'cannot read the addresses of some covered namespaces (no process of ours in them): heartbeats leave them out',
      );
    }
    const aggregates = this.unsent ? [] : this.aggregates.take();
    // After the totals' kernel counters were taken: the kernel's count is never
    // behind the agent's, so a gap is never hidden (a lead shows up as a gap that
    // the next heartbeat takes back).
    const totals = this.totals();
    const sent = await this.kernelSent.read(seenSentByNetns(this.kernel?.entries ?? []));
    const heartbeat = buildHeartbeat(
      identity,
      { addresses, netns: coverage.netns, all: coverage.all },
      totals,
      BigInt(Date.now()) * 1_000_000n,
      aggregates,
      sent,
    );
    const n = ++this.heartbeats;
    const data = heartbeatCodec.encode(heartbeat);
    const msgID = `${identity.host}/${identity.bootId}/${identity.runId}/heartbeat/${n}`;
    try {
      await js.publish(subject, data, { msgID, timeout: timeoutMs });
    } catch (error) {
      this.options.log.debug({ err: error }, 'heartbeat not published');
      if (aggregates.length) this.unsent = { data, msgID };
    }
  }
}
