// Drains the outbox into JetStream: a few publishes in flight, each with the batch's
// deterministic Nats-Msg-Id, so a retry after a lost ack is dropped by the stream as
// a duplicate. Failures back off and retry the same batch; nothing here ever blocks
// the code that fills the outbox.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamClient } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection, PermissionViolationError } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { NatsAuth } from '../../proto/nats-auth-options.js';
import {
  describeNatsFailure,
  natsConnectionOptions,
  permissionViolation,
} from '../../proto/nats-connection-options.js';
import { agentInboxPrefix } from '../../proto/nats-permissions.js';
import { ensureStream, resetsStreamConfig } from '../../proto/nats-streams.js';
import { STREAM, batchId, resetsSubject } from '../../proto/nats-topology.js';
import type { StreamLimits } from '../../proto/nats-topology.js';
import type { EncodedBatch } from './batch-builder.js';
import type { Outbox } from './outbox.js';
import { Backoff } from './backoff.js';

/** Publishes awaiting their ack at once: enough to hide the round trip. */
const IN_FLIGHT = 8;
const PUBLISH_TIMEOUT_MS = 5_000;
/** Errors no retry can fix: the message is too big for the server or the stream. */
const PERMANENT_REFUSAL = /max_payload size exceeded|message size exceeds maximum/i;

export interface PublisherOptions {
  servers: string[];
  host: string;
  bootId: string;
  runId: string;
  streamLimits: StreamLimits;
  /** TLS and credentials (default: none). */
  auth?: NatsAuth;
  log: Logger;
  /** Called each time the stream is (again) known to exist. */
  onStreamReady?: () => void;
}

export class JetStreamPublisher {
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private streamReady = false;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private readonly backoff = new Backoff(250, 10_000);
  private lastFailure = '';
  private refusedLogged = false;
  private creationDeniedLogged = false;
  publishedEvents = 0;
  publishedBatches = 0;

  constructor(
    private readonly outbox: Outbox,
    private readonly options: PublisherOptions,
  ) {}

  /** Connects (retrying for ever in the background) and starts draining. */
  start(): void {
    this.loop = this.run();
  }

  /** The JetStream client once the stream exists, for heartbeats. */
  get client(): JetStreamClient | undefined {
    return this.streamReady ? this.js : undefined;
  }

  /** Waits until the outbox is empty or the deadline passed. */
  async drain(deadlineMs: number): Promise<void> {
    const until = Date.now() + deadlineMs;
    while (this.outbox.length && this.nc && !this.nc.isClosed() && Date.now() < until) {
      await sleep(50);
    }
  }

  /**
   * Stops the publish loop and waits for it (no publish is in flight afterwards);
   * the connection stays open for a last heartbeat, the outbox keeps what is left.
   */
  async stopPublishing(): Promise<void> {
    this.stopping = true;
    this.outbox.wake();
    this.wakeUp?.();
    await this.loop;
  }

  async close(): Promise<void> {
    await this.stopPublishing();
    await this.nc?.close().catch(() => {});
  }

  private async run(): Promise<void> {
    const { log, servers } = this.options;
    // Our own retry around the first connect (not waitOnFirstConnect), so that a
    // stop while NATS has never been reachable ends the loop instead of hanging.
    while (!this.stopping && !this.nc) {
      try {
        this.nc = await connect({
          servers,
          name: `rstscope-agent ${this.options.host}`,
          // TLS, credentials, and replies on this host's own inbox prefix: with
          // per-agent credentials that is the only inbox it may subscribe to.
          ...natsConnectionOptions(this.options.auth, agentInboxPrefix(this.options.host)),
          // Once connected, keep reconnecting for ever: the outbox holds the data.
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1_000,
        });
      } catch (error) {
        this.noteFailure(error);
        await this.pause(this.backoff.next());
      }
    }
    if (!this.nc) return;
    this.backoff.reset();
    const { auth } = this.options;
    log.info(
      {
        server: this.nc.getServer(),
        tls: Boolean(auth?.tls),
        nats_user: auth?.nkeyPublic ?? auth?.user?.name,
      },
      'connected to NATS',
    );
    this.js = jetstream(this.nc, { timeout: PUBLISH_TIMEOUT_MS });
    void this.watchStatus(this.nc);

    while (!this.stopping) {
      // The stream first (heartbeats need it too), then whatever is waiting.
      if (!(await this.ensureStream())) continue;
      await this.outbox.waitForBatch();
      if (this.stopping) break;
      const batches = this.outbox.peek(IN_FLIGHT);
      const results = await Promise.all(batches.map((b) => this.publish(b)));
      if (results.every(Boolean)) this.backoff.reset();
      else await this.pause(this.backoff.next());
    }
  }

  /** A backoff wait that stopPublishing() cuts short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async ensureStream(): Promise<boolean> {
    if (this.streamReady) return true;
    try {
      // No account info first (checkAPI): an agent's credentials may read only the stream's.
      const jsm = await jetstreamManager(this.nc!, {
        timeout: PUBLISH_TIMEOUT_MS,
        checkAPI: false,
      });
      if (await ensureStream(jsm, resetsStreamConfig(this.options.streamLimits))) {
        this.options.log.info('created the RSTSCOPE stream');
      }
      this.streamReady = true;
      this.options.onStreamReady?.();
      return true;
    } catch (error) {
      const refused = permissionViolation(error);
      // Per-agent credentials may not create the stream, by design: say so once.
      if (refused?.subject.includes('.STREAM.CREATE.')) {
        if (!this.creationDeniedLogged) {
          this.creationDeniedLogged = true;
          this.options.log.warn(
            `the ${STREAM} stream is missing and this agent's NATS credentials may not create it; the collector creates it (start one): retrying`,
          );
        }
        // Anything else refused (its own inbox, the stream's info) means the
        // credentials are another host's: nothing is published until they change.
      } else if (refused) this.noteRefused(refused);
      else this.noteFailure(error);
      await this.pause(this.backoff.next());
      return false;
    }
  }

  private async publish(batch: EncodedBatch): Promise<boolean> {
    const { host, bootId, runId } = this.options;
    try {
      await this.js!.publish(resetsSubject(host), batch.bytes, {
        msgID: batchId(host, bootId, runId, batch.seq.toString()),
        timeout: PUBLISH_TIMEOUT_MS,
      });
      // A duplicate ack means an earlier try was stored: published all the same.
      this.outbox.remove(batch);
      this.publishedEvents += batch.events;
      this.publishedBatches += 1;
      if (this.lastFailure) {
        this.options.log.info('publishing again');
        this.lastFailure = '';
      }
      return true;
    } catch (error) {
      // The credentials are another host's: no retry can fix that, and keeping the
      // batches would only fill the outbox. Dropped and counted like any refusal.
      const refused = permissionViolation(error);
      if (refused) {
        this.noteRefused(refused);
        this.outbox.drop(batch);
        return true;
      }
      this.noteFailure(error);
      // A batch the server will never take (larger than its max_payload or the
      // stream's max_msg_size) would block the outbox for ever: drop it, counted.
      if (PERMANENT_REFUSAL.test(String(error))) {
        this.outbox.drop(batch);
        return true;
      }
      // The stream may have been deleted under us: look again before the next try.
      if (/stream not found|no responders/i.test(String(error))) this.streamReady = false;
      return false;
    }
  }

  /** Once: the credentials are not this host's, which no retry fixes. */
  private noteRefused(refused: PermissionViolationError): void {
    if (this.refusedLogged) return;
    this.refusedLogged = true;
    const { host } = this.options;
    this.options.log.error(
      { operation: refused.operation, subject: refused.subject },
      `NATS refused this agent's ${refused.operation} to ${refused.subject}: the credentials are not this host's (--host ${host}); give the seed made for ${host}, or the --host it was made for. Resets it cannot publish are dropped and counted`,
    );
  }

  /** Logs a failure once per kind, not once per retry. */
  private noteFailure(error: unknown): void {
    const message = describeNatsFailure(error);
    if (message === this.lastFailure) return;
    this.lastFailure = message;
    this.options.log.warn(
      { buffered_events: this.outbox.events },
      `publishing to JetStream failed, retrying with backoff: ${message}`,
    );
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect') {
        this.options.log.info({ server: status.server }, `NATS ${status.type}`);
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
