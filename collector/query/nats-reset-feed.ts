// The live ResetFeed: one core-NATS subscription on every agent's resets subject,
// beside the durable consumer (a stream's subjects are ordinary subjects, so a
// core subscriber sees each published batch too; the consumer is untouched). The
// subscription exists only while someone watches, because decoding every batch
// costs CPU. It has its own connection: a watcher that cannot keep up must never
// make NATS cut off the connection the collector stores through.
import { connect } from '@nats-io/transport-node';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { resetBatchCodec } from '../../proto/index.js';
import type { NatsAuth } from '../../proto/nats-auth-options.js';
import { describeNatsFailure, natsConnectionOptions } from '../../proto/nats-connection-options.js';
import { COLLECTOR_INBOX_PREFIX } from '../../proto/nats-permissions.js';
import { RESETS_SUBJECT_PREFIX } from '../../proto/nats-topology.js';
import { validateMessage } from '../ingest/message-validator.js';
import { RecentIds } from './recent-ids.js';
import { ResetFeedEndedError } from './reset-feed.js';
import type { ResetFeed, ResetFeedSubscriber, ResetFeedSubscription } from './reset-feed.js';

/** A malformed message is logged on the first and then every this many. */
export const DEFAULT_MALFORMED_LOG_EVERY = 1_000;
/**
 * Batch ids remembered to drop an agent's publish retry (JetStream drops it as a
 * duplicate, but core subscribers see it again). Retries come within seconds;
 * at a thousand resets a batch this is minutes of a busy fleet.
 */
const RECENT_BATCHES = 4_096;
/** A silent network (no FIN) is noticed after two missed pings: within 30 s. */
const PING_INTERVAL_MS = 10_000;

export interface NatsResetFeedOptions {
  servers: string[];
  /** TLS and credentials, the collector's own (default: none). */
  auth?: NatsAuth;
  log: Logger;
  /** Default DEFAULT_MALFORMED_LOG_EVERY. */
  malformedLogEvery?: number;
}

export class NatsResetFeedError extends Error {
  override name = 'NatsResetFeedError';
}

export class NatsResetFeed implements ResetFeed {
  /** Messages on the resets subjects the collector would refuse; never delivered. */
  malformed = 0;
  /** Batches delivered to the subscribers (each once, retries dropped). */
  delivered = 0;
  private subscription: Subscription | undefined;
  private readonly subscribers = new Set<ResetFeedSubscriber>();
  /** Why NATS cannot be reached right now; undefined while connected. */
  private unreachable: string | undefined;
  private closed = false;
  private readonly recent = new RecentIds(RECENT_BATCHES);
  private readonly log: Logger;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly options: NatsResetFeedOptions,
  ) {
    this.log = options.log.child({ component: 'reset-feed' });
    void this.followStatus();
  }

  /** Connects; throws a one-line NatsResetFeedError when NATS is unreachable. */
  static async open(options: NatsResetFeedOptions): Promise<NatsResetFeed> {
    try {
      const nc = await connect({
        servers: options.servers,
        name: 'rstscope-collector watch',
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1_000,
        pingInterval: PING_INTERVAL_MS,
        maxPingOut: 2,
        ...natsConnectionOptions(options.auth, COLLECTOR_INBOX_PREFIX),
      });
      return new NatsResetFeed(nc, options);
    } catch (error) {
      throw new NatsResetFeedError(
        `cannot connect to NATS at ${options.servers.join(',')} for live resets: ${describeNatsFailure(error)}`,
        { cause: error },
      );
    }
  }

  /** Whether the NATS subscription is open (only while someone watches). */
  get subscribed(): boolean {
    return this.subscription !== undefined;
  }

  get watchers(): number {
    return this.subscribers.size;
  }

  subscribe(subscriber: ResetFeedSubscriber): ResetFeedSubscription {
    const refusal = this.closed ? 'the live reset feed is closed' : this.unreachable;
    if (refusal !== undefined) {
      subscriber.end(new ResetFeedEndedError(refusal));
      return { live: Promise.resolve(), stop: () => {} };
    }
    this.subscribers.add(subscriber);
    this.subscription ??= this.nc.subscribe(`${RESETS_SUBJECT_PREFIX}.>`, {
      callback: (err, msg) => (err ? this.refused(err) : this.receive(msg)),
    });
    // The server's PONG follows our SUB: from then on every publish reaches us.
    const live = this.nc.flush().catch((error: unknown) => {
      this.leave(subscriber);
      subscriber.end(new ResetFeedEndedError(`NATS unreachable: ${(error as Error).message}`));
    });
    return { live, stop: () => this.leave(subscriber) };
  }

  /** Ends every subscriber and closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.endAll('the live reset feed is closed');
    await this.nc.close().catch(() => {});
  }

  private leave(subscriber: ResetFeedSubscriber): void {
    this.subscribers.delete(subscriber);
    if (this.subscribers.size === 0 && this.subscription) {
      this.subscription.unsubscribe();
      this.subscription = undefined;
    }
  }

  private endAll(reason: string): void {
    const ended = new ResetFeedEndedError(reason);
    for (const subscriber of [...this.subscribers]) {
      this.leave(subscriber);
      subscriber.end(ended);
    }
  }

  private receive(msg: Msg): void {
    // The collector's own validation, so a watched reset is one the store keeps.
    const validated = validateMessage(msg.subject, msg.data);
    if (validated.kind !== 'resets') {
      this.countMalformed(
        msg.subject,
        validated.kind === 'refused' ? `${validated.refusal}: ${validated.detail}` : validated.kind,
      );
      return;
    }
    if (!this.recent.add(validated.batch.batchId)) return;
    const batch = resetBatchCodec.decode(msg.data);
    this.delivered += 1;
    for (const subscriber of this.subscribers) {
      try {
        subscriber.batch(batch);
      } catch (error) {
        // One broken watcher must not starve the others; it is let go.
        this.log.error({ err: error }, 'a watcher failed on a batch; ending it');
        this.leave(subscriber);
        subscriber.end(new ResetFeedEndedError(`watch failed: ${(error as Error).message}`));
      }
    }
  }

  private countMalformed(subject: string, problem: string): void {
    this.malformed += 1;
    const every = this.options.malformedLogEvery ?? DEFAULT_MALFORMED_LOG_EVERY;
    if ((this.malformed - 1) % every === 0) {
      this.log.warn(
        { subject, malformed: this.malformed },
        `live feed ignored a malformed message (${problem}); ${this.malformed} so far, logged once per ${every}`,
      );
    }
  }

  /** The server refused the subscription (permissions): nobody can watch. */
  private refused(err: Error): void {
    this.log.error({ err }, 'NATS refused the live resets subscription');
    this.subscription = undefined;
    this.endAll(`NATS refused the subscription to ${RESETS_SUBJECT_PREFIX}.>: ${err.message}`);
  }

  private async followStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') {
        // Resets published while we are away would be missed without a word;
        // a watcher is better told and left to watch again.
        this.unreachable = `NATS unreachable: lost the connection to ${status.server}`;
        this.log.warn({ server: status.server }, 'live feed lost NATS; ending the watches');
        this.endAll(this.unreachable);
      } else if (status.type === 'reconnect') {
        this.unreachable = undefined;
        this.log.info({ server: status.server }, 'live feed reconnected to NATS');
      } else if (status.type === 'close') {
        this.unreachable = 'NATS unreachable: the connection is closed';
        this.endAll(this.unreachable);
      }
    }
  }
}
