// Turns JetStream messages into batched, idempotent inserts. A message is acked only
// after the rows it carried are in ClickHouse; a refused message is dead-lettered
// and then acked, so it never blocks the stream. When an insert fails, the
// ingester tells the two causes apart: rows the store refuses (each message is
// retried alone, and the one that fails alone is dead-lettered), and a store that
// takes nothing (disk full, server away, overloaded, read-only): then every
// message stays in hand, unacked, and the insert is retried with exponential
// back-off while nothing more is pulled, so JetStream keeps the rest.
import type { Logger } from 'pino';
import type { NameFlowEnds } from '../k8s/flow-ends.js';
import type { Storage, Row } from '../storage/storage.js';
import { heartbeatRow } from './heartbeat-row.js';
import { resetsNativeBlock } from './native-reset-block.js';
import { RESET_NATIVE_COLUMNS } from './reset-batch-native.js';
import type { ResetBatchNative } from './reset-batch-native.js';
import { RESET_TSV_COLUMNS } from './reset-batch-tsv.js';
import type { ResetBatchTsv } from './reset-batch-tsv.js';
import { validateMessage } from './message-validator.js';
import type { InsertFormat, RefusalKind } from './message-validator.js';
import { publishedPastDuplicateWindow, storedEventKeys } from './stored-events.js';
import { classifyStoreFailure } from '../storage/store-failure.js';
import type { StoreFailure } from '../storage/store-failure.js';
import { DEFAULT_RETRY_POLICY, StoreOutage } from './store-outage.js';
import type { RetryPolicy, StoreState } from './store-outage.js';

/** What the ingester needs of a JetStream message (JsMsg has all of it). */
export interface InboundMessage {
  /** The stream sequence: names the message in logs and on the dead-letter stream. */
  streamSeq: number;
  subject: string;
  data: Uint8Array;
  /** Delivered before: its rows may already be stored. */
  redelivered: boolean;
  /** When JetStream stored it, by the server's clock: a heartbeat's clock is measured against it. */
  receivedAtNs?: bigint;
  ack(): void;
  nak(delayMs?: number): void;
  working(): void;
}

export interface DeadLetterSink {
  /** Resolves once the refused message is stored on the dead-letter stream. */
  put(message: InboundMessage, kind: RefusalKind | 'insert_refused', detail: string): Promise<void>;
}

export interface IngestLimits {
  /** Insert when this many rows are pending. */
  maxRows: number;
  /** ... or when the oldest pending row has waited this long. */
  maxDelayMs: number;
  /** During a long insert, tell JetStream we still work on the messages this often. */
  workingEveryMs: number;
  /** Back-off while the store fails (default DEFAULT_RETRY_POLICY). */
  retry?: RetryPolicy;
}

export const DEFAULT_INGEST_LIMITS: IngestLimits = {
  maxRows: 50_000,
  maxDelayMs: 1_000,
  // A third of the default ack wait (30 s), so a slow insert is never redelivered.
  workingEveryMs: 10_000,
};

interface Pending {
  message: InboundMessage;
  /** Later deliveries of the same message that arrived while it was still in hand. */
  copies: InboundMessage[];
  resets: ResetBatchTsv | ResetBatchNative | undefined;
  agents: Row[];
  /** In an insert that failed: its rows may be stored anyway (committed, then the answer lost). */
  retried: boolean;
}

/** What an insert attempt left: messages neither acked nor refused, and why. */
interface Held {
  held: Pending[];
  failure: StoreFailure | undefined;
}

export interface IngestCounters {
  messages: number;
  rows: number;
  inserts: number;
  duplicateRows: number;
  insertFailures: number;
  /** Insert attempts that failed because of the store (its messages held, never refused). */
  storeFailures: number;
  /** Outages of the store: from the first such failure to the next insert that succeeded. */
  storeOutages: number;
  refused: Partial<Record<RefusalKind | 'insert_refused', number>>;
}

/** A message given back to JetStream (nak) comes back after this. */
const RETRY_DELAY_MS = 2_000;

export class Ingester {
  private pending: Pending[] = [];
  private pendingRows = 0;
  private oldestAt = 0;
  private flushing: Promise<void> | undefined;
  /** Every message pulled and not yet acked or naked, by stream sequence. */
  private readonly inHand = new Map<number, Pending>();
  private readonly timer: NodeJS.Timeout;
  private readonly keepAlive: NodeJS.Timeout;
  private readonly loggedKinds = new Set<string>();
  /** Set while the store fails: inserts wait for its retry time, add() for room. */
  private outage: StoreOutage | undefined;
  /** add() calls waiting for room while the store fails. */
  private roomWaiters: (() => void)[] = [];
  /** After stopTaking() or close(): add() no longer waits for the store. */
  private stopping = false;
  /** Native blocks where the store takes them (chDB): far cheaper for ClickHouse to read. */
  private readonly format: InsertFormat;
  readonly counters: IngestCounters = {
    messages: 0,
    rows: 0,
    inserts: 0,
    duplicateRows: 0,
    insertFailures: 0,
    storeFailures: 0,
    storeOutages: 0,
    refused: {},
  };

  constructor(
    private readonly storage: Storage,
    private readonly deadLetters: DeadLetterSink,
    private readonly limits: IngestLimits,
    private readonly maxMessageBytes: number,
    private readonly log: Logger,
    /** Names both ends of each reset as it is stored; without it they stay empty. */
    private readonly nameEnds?: NameFlowEnds,
  ) {
    this.format = storage.insertNative ? 'native' : 'tsv';
    this.timer = setInterval(() => this.flushIfDue(), Math.min(100, limits.maxDelayMs / 4));
    // Whatever waits here, pending or being inserted, must not reach its ack wait:
    // JetStream would deliver it again, to us or another collector.
    this.keepAlive = setInterval(
      () => this.inHand.forEach((p) => p.message.working()),
      limits.workingEveryMs,
    );
    // They never keep the process alive: a collector whose startup fails after the
    // ingester exists must still exit (close() stops them on the way out).
    this.timer.unref();
    this.keepAlive.unref();
  }

  /** Takes one message; resolves when the ingester can take the next (back-pressure). */
  async add(message: InboundMessage): Promise<void> {
    this.counters.messages += 1;
    const original = this.inHand.get(message.streamSeq);
    if (original) {
      // Redelivered while the first delivery is still here (it waited past the ack
      // wait): one insert, and both deliveries settle with its outcome.
      original.copies.push(message);
      return;
    }
    const validated = validateMessage(
      message.subject,
      message.data,
      this.maxMessageBytes,
      this.nameEnds,
      this.format,
    );
    if (validated.kind === 'refused') {
      const stored = await this.refuse(message, validated.refusal, validated.detail);
      if (stored) message.ack();
      else message.nak(RETRY_DELAY_MS);
      return;
    }
    const entry: Pending =
      validated.kind === 'resets'
        ? { message, copies: [], resets: validated.batch, agents: [], retried: false }
        : {
            message,
            copies: [],
            resets: undefined,
            agents: [heartbeatRow(validated.heartbeat, message.receivedAtNs)],
            retried: false,
          };
    if (!this.pending.length) this.oldestAt = Date.now();
    this.pending.push(entry);
    this.inHand.set(message.streamSeq, entry);
    this.pendingRows += rowsOf(entry);
    if (this.pendingRows >= this.limits.maxRows) await this.makeRoom();
  }

  /** The store's state now: ok, or failing since when, why, and what is held. */
  storeState(): StoreState {
    return this.outage ? this.outage.state(this.inHand.size) : { state: 'ok' };
  }

  /**
   * From now on add() never waits for a failing store. Call it before stopping the
   * intake: its loop waits in add(), and must end before close() is called.
   */
  stopTaking(): void {
    this.stopping = true;
    this.wakeWaiters();
  }

  /** Back-pressure: returns when the ingester can take the next message. */
  private async makeRoom(): Promise<void> {
    while (!this.stopping && this.pendingRows >= this.limits.maxRows) {
      if (this.outage) {
        // The store fails: take nothing more. What is not pulled stays in JetStream,
        // what is in hand is kept alive (working) and not redelivered, and memory
        // stays bounded, however long the outage.
        await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      } else if (this.flushing) {
        // One insert runs while the next one's rows are read: waiting here only when
        // both are full bounds what is in hand to two inserts' worth.
        await this.flushing;
      } else {
        void this.flush();
        return;
      }
    }
  }

  private wakeWaiters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    waiters.forEach((wake) => wake());
  }

  /** Inserts what is pending now (and waits for an insert already running). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (!this.pending.length) return;
    const batch = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    this.flushing = this.insert(batch).finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  /**
   * Inserts what is pending, one last attempt even while the store fails; what
   * still cannot be stored goes back to JetStream (nak), for this collector's
   * successor or another one.
   */
  async close(): Promise<void> {
    this.stopTaking();
    clearInterval(this.timer);
    await this.flush();
    const left = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    left.forEach((p) => this.settle(p, 'nak'));
    clearInterval(this.keepAlive);
  }

  private flushIfDue(): void {
    if (!this.pending.length || this.flushing) return;
    const now = Date.now();
    const due = this.outage
      ? now >= this.outage.retryAtMs
      : now - this.oldestAt >= this.limits.maxDelayMs;
    if (due) void this.flush();
  }

  private async insert(batch: Pending[]): Promise<void> {
    const { held, failure } = await this.store(batch);
    if (failure) this.hold(held, failure);
    else if (this.outage) {
      const outage = this.outage;
      this.outage = undefined;
      this.log.warn(
        { store: 'ok', outage_ms: Date.now() - outage.sinceMs },
        outage.backLine(this.storage.location, Date.now(), batch.length),
      );
    }
    this.wakeWaiters();
  }

  /** One attempt at storing a batch; acks what is stored, dead-letters what is refused. */
  private async store(batch: Pending[]): Promise<Held> {
    try {
      await this.insertRows(batch);
      batch.forEach((p) => this.settle(p, 'ack'));
      return { held: [], failure: undefined };
    } catch (error) {
      this.counters.insertFailures += 1;
      const failure = classifyStoreFailure(error);
      if (failure.scope === 'store') return { held: batch, failure };
      const down = await this.storeDown();
      if (down) return { held: batch, failure: down };
      this.logOnce(
        'insert',
        `insert into ClickHouse failed (${failure.line}); retrying each message alone to find the one at fault`,
      );
      return this.storeOneByOne(batch);
    }
  }

  /**
   * Each message alone: one the store refuses while others go in is at fault and is
   * dead-lettered. When every one fails (or the only one, for no reason its rows
   * explain), the fault is the store's: dead-lettering them would empty the stream
   * into the dead-letter stream, so they are held instead.
   */
  private async storeOneByOne(batch: Pending[]): Promise<Held> {
    let stored = 0;
    const failed: { one: Pending; failure: StoreFailure }[] = [];
    for (const [i, one] of batch.entries()) {
      try {
        // A retry: the failed group insert may have stored this batch after all.
        await this.insertRows([one], true);
        this.settle(one, 'ack');
        stored += 1;
      } catch (error) {
        const failure = classifyStoreFailure(error);
        if (failure.scope === 'store') {
          return { held: [...failed.map((f) => f.one), ...batch.slice(i)], failure };
        }
        failed.push({ one, failure });
      }
    }
    if (!failed.length) return { held: [], failure: undefined };
    if (stored === 0 && (failed.length > 1 || failed[0]!.failure.scope === 'unknown')) {
      const { line, kind } = failed[0]!.failure;
      return {
        held: failed.map((f) => f.one),
        failure: { kind, scope: 'store', line: `every message failed alone: ${line}` },
      };
    }
    for (const { one, failure } of failed) {
      const deadLettered = await this.refuse(one.message, 'insert_refused', failure.line);
      this.settle(one, deadLettered ? 'ack' : 'nak');
    }
    return { held: [], failure: undefined };
  }

  /** Puts what an insert left back in front of the queue, until the next attempt. */
  private hold(held: Pending[], failure: StoreFailure): void {
    for (const p of held) p.retried = true;
    this.pending = [...held, ...this.pending];
    this.pendingRows = this.pending.reduce((n, p) => n + rowsOf(p), 0);
    this.counters.storeFailures += 1;
    const now = Date.now();
    const location = this.storage.location;
    let outage = this.outage;
    let tell: boolean;
    if (!outage) {
      outage = this.outage = new StoreOutage(
        failure,
        this.limits.retry ?? DEFAULT_RETRY_POLICY,
        now,
      );
      this.counters.storeOutages += 1;
      tell = true;
    } else {
      // Said once per outage, and again only when the cause changes: the status
      // and the periodic counters say that it goes on.
      tell = outage.failedAgain(failure, now);
    }
    const state = outage.state(this.inHand.size);
    const line = outage.failingLine(location, this.inHand.size);
    if (tell) this.log.error({ store: state }, line);
    else this.log.debug({ store: state }, line);
  }

  /** Acks (or naks for a later retry) a message and every copy of it in hand. */
  private settle(p: Pending, outcome: 'ack' | 'nak'): void {
    this.inHand.delete(p.message.streamSeq);
    for (const m of [p.message, ...p.copies]) {
      if (outcome === 'ack') m.ack();
      else m.nak(RETRY_DELAY_MS);
    }
  }

  private async insertRows(batch: Pending[], retry = false): Promise<void> {
    const resets = batch.flatMap((p) => (p.resets ? [p.resets] : []));
    const agents = batch.flatMap((p) => p.agents);
    // Heartbeats first: a repeated heartbeat collapses in its ReplacingMergeTree, so
    // a failure after them leaves nothing that a retry could duplicate.
    if (agents.length) await this.storage.insert('agents', agents);
    // A redelivered batch, or one retried after a failed insert, may be stored
    // already: the ack was lost, or the server committed after the client gave up.
    // So may a batch JetStream took later than its duplicate window: an agent that
    // lost an ack and then NATS for longer republishes it as a new message.
    const maybeStored = batch.filter(
      (p) =>
        p.resets &&
        (retry ||
          p.retried ||
          p.message.redelivered ||
          publishedPastDuplicateWindow(p.resets, p.message.receivedAtNs)),
    );
    const stored = maybeStored.length
      ? await storedEventKeys(
          this.storage,
          maybeStored.map((p) => p.resets!),
        )
      : new Set<string>();
    // Keys are built only when something was found: most inserts have nothing stored.
    const fresh = (b: { batchId: string }) =>
      stored.size ? (index: number) => !stored.has(`${b.batchId}#${index}`) : undefined;
    let rows = 0;
    if (this.format === 'native' && this.storage.insertNative) {
      // One block for the whole insert: ClickHouse then neither reads a header per
      // batch nor squashes small blocks into one before writing its part.
      const block = resetsNativeBlock((resets as ResetBatchNative[]).map((b) => b.part(fresh(b))));
      for (const b of resets) rows += b.rows;
      rows -= stored.size;
      if (rows) await this.storage.insertNative('resets', RESET_NATIVE_COLUMNS, block, rows);
    } else {
      let text = '';
      for (const b of resets as ResetBatchTsv[]) {
        const keep = fresh(b);
        for (const [index, line] of b.lines.entries()) {
          if (!keep || keep(index)) {
            text += line;
            rows += 1;
          }
        }
      }
      if (rows) await this.storage.insertTsv('resets', RESET_TSV_COLUMNS, text);
    }
    this.counters.duplicateRows += stored.size;
    this.counters.inserts += 1;
    this.counters.rows += rows + agents.length;
  }

  /** Whether the store answers at all: a failure here is the store's, whatever it says. */
  private async storeDown(): Promise<StoreFailure | undefined> {
    try {
      await this.storage.query('SELECT 1');
      return undefined;
    } catch (error) {
      const failure = classifyStoreFailure(error);
      const kind = failure.scope === 'store' ? failure.kind : 'unreachable';
      return { kind, scope: 'store', line: failure.line };
    }
  }

  /** Dead-letters a message; true once it is stored there (the caller acks it then). */
  private async refuse(
    message: InboundMessage,
    kind: RefusalKind | 'insert_refused',
    detail: string,
  ): Promise<boolean> {
    this.counters.refused[kind] = (this.counters.refused[kind] ?? 0) + 1;
    this.logOnce(kind, `refused a message (${kind}: ${detail}); moved to the dead-letter stream`);
    try {
      await this.deadLetters.put(message, kind, detail);
      return true;
    } catch (error) {
      // Not stored anywhere yet: keep it in the stream and try again later.
      this.logOnce('deadletter', `cannot dead-letter a message: ${firstLine(error)}`);
      return false;
    }
  }

  /** Once per kind, with the count so far in later summaries, not once per message. */
  private logOnce(kind: string, message: string): void {
    if (this.loggedKinds.has(kind)) return;
    this.loggedKinds.add(kind);
    this.log.warn({ kind }, message);
  }
}

function rowsOf(p: Pending): number {
  return (p.resets?.rows ?? 0) + p.agents.length;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
