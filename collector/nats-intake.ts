// The collector's side of NATS: the streams and the durable pull consumer that
// every collector shares, the message loop into the ingester, and the dead-letter
// stream for what the ingester refuses.
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import type {
  ConsumerMessages,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
} from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { NatsAuth } from '../proto/nats-auth-options.js';
import { describeNatsFailure, natsConnectionOptions } from '../proto/nats-connection-options.js';
import { COLLECTOR_INBOX_PREFIX } from '../proto/nats-permissions.js';
import { deadletterStreamConfig, ensureStream, resetsStreamConfig } from '../proto/nats-streams.js';
import { STREAM, deadletterSubject } from '../proto/nats-topology.js';
import type { StreamLimits } from '../proto/nats-topology.js';
import { NatsIntakeError } from './errors.js';
import type { DeadLetterSink, InboundMessage, Ingester } from './ingest/ingester.js';

const NS_PER_MS = 1_000_000;
/** Unacked messages per consumer, over all collectors: the back-pressure valve. */
const MAX_ACK_PENDING = 1_000;
/** How long a pulled message may stay unacked before JetStream gives it to another collector. */
export const DEFAULT_ACK_WAIT_MS = 30_000;
/**
 * Messages each collector pulls ahead of its inserts: a full insert's worth (50
 * batches of up to 1000 events), so the next insert's rows are ready while one
 * runs. Not more: with 256 (up to 64 MiB of 256 KiB batches, nats-server's default
 * max_pending for a client) a fast drain stalled for the ack wait (30 s) on a tenth
 * of its messages, delivered and lost on the way, until JetStream sent them again.
 */
const PULL_AHEAD = 64;

export interface IntakeOptions {
  servers: string[];
  durable: string;
  ackWaitMs: number;
  streamLimits: StreamLimits;
  /** TLS and credentials (default: none). */
  auth?: NatsAuth;
  log: Logger;
}

export class NatsIntake implements DeadLetterSink {
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: IntakeOptions) {}

  /** Connects, creates what is missing; throws a one-line error when NATS is unreachable. */
  async open(): Promise<void> {
    const { servers, durable, streamLimits } = this.options;
    try {
      this.nc = await connect({
        servers,
        name: 'rstscope-collector',
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1_000,
        ...natsConnectionOptions(this.options.auth, COLLECTOR_INBOX_PREFIX),
      });
    } catch (error) {
      const why = describeNatsFailure(error);
      // The hint only where the failure is not already explained (credentials, TLS).
      const hint =
        why === (error as Error).message ? ' (start nats-server with -js, or give --nats URL)' : '';
      throw new NatsIntakeError(`cannot connect to NATS at ${servers.join(',')}: ${why}${hint}`, {
        cause: error,
      });
    }
    const jsm = await jetstreamManager(this.nc);
    this.jsm = jsm;
    await ensureStream(jsm, resetsStreamConfig(streamLimits));
    await ensureStream(jsm, deadletterStreamConfig());
    try {
      await jsm.consumers.info(STREAM, durable);
    } catch (error) {
      if (!(error instanceof JetStreamApiError)) throw error;
      await jsm.consumers.add(STREAM, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: this.options.ackWaitMs * NS_PER_MS,
        max_ack_pending: MAX_ACK_PENDING,
        // Never give up on a message: while ClickHouse is down JetStream keeps it.
        max_deliver: -1,
      });
    }
    this.js = jetstream(this.nc);
  }

  /**
   * Feeds every message to the ingester until stop(). Resolves with the error if
   * consuming ends any other way, so the collector can stop instead of idling.
   */
  async start(ingester: Ingester): Promise<{ failed: Promise<Error> }> {
    const consumer = await this.js!.consumers.get(STREAM, this.options.durable);
    this.messages = await consumer.consume({ max_messages: PULL_AHEAD });
    this.loop = (async () => {
      for await (const m of this.messages!) await ingester.add(inbound(m));
    })();
    const failed = this.loop.then(
      () => new NatsIntakeError('the JetStream consumer stopped delivering'),
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    );
    // After stop(), an end of the loop is expected: never report it.
    return {
      failed: failed.then((error) => (this.stopped ? new Promise<never>(() => {}) : error)),
    };
  }

  async put(message: InboundMessage, kind: string, detail: string): Promise<void> {
    const h = headers();
    h.set('Rstscope-Refusal', kind);
    h.set('Rstscope-Detail', detail.slice(0, 1000));
    h.set('Rstscope-Subject', message.subject);
    await this.js!.publish(deadletterSubject(kind), message.data, {
      headers: h,
      // Dead-lettering the same message twice (after a crash) stores it once.
      msgID: `deadletter/${message.streamSeq}`,
    });
  }

  /**
   * The durable consumer's backlog, as JetStream counts it over all collectors:
   * messages not yet taken, and taken but not yet acknowledged.
   */
  async backlog(): Promise<{ pending: number; ackPending: number }> {
    if (!this.jsm) throw new NatsIntakeError('the NATS intake is not open');
    const info = await this.jsm.consumers.info(STREAM, this.options.durable);
    return { pending: info.num_pending, ackPending: info.num_ack_pending };
  }

  /** Stops pulling; messages not yet acked will be delivered again (to any collector). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.messages?.stop();
    await this.loop?.catch(() => {});
  }

  async close(): Promise<void> {
    await this.nc?.drain().catch(() => {});
  }
}

function inbound(m: JsMsg): InboundMessage {
  return {
    streamSeq: m.seq,
    subject: m.subject,
    data: m.data,
    redelivered: m.redelivered,
    receivedAtNs: BigInt(m.info.timestampNanos),
    ack: () => m.ack(),
    nak: (delayMs) => m.nak(delayMs),
    working: () => m.working(),
  };
}
