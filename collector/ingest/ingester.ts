// Turns JetStream messages into batched, idempotent inserts. A message is acked only
// after the rows it carried are in ClickHouse; a refused message is dead-lettered
// and then acked, so it never blocks the stream; a failed insert naks its messages
// with a delay, and JetStream delivers them again (the redelivery is de-duplicated).
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
import { storedEventKeys } from './stored-events.js';

/** What the ingester needs of a JetStream message (JsMsg has all of it). */
export interface InboundMessage {
  /** The stream sequence: names the message in logs and on the dead-letter stream. */
  streamSeq: number;
  subject: string;
  data: Uint8Array;
  /** Delivered before: its rows may already be stored. */
  redelivered: boolean;
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
}

export interface IngestCounters {
  messages: number;
  rows: number;
  inserts: number;
  duplicateRows: number;
  insertFailures: number;
  refused: Partial<Record<RefusalKind | 'insert_refused', number>>;
}

/** A failed insert's messages come back after this: short, as JetStream keeps them safe. */
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
  /** Native blocks where the store takes them (chDB): far cheaper for ClickHouse to read. */
  private readonly format: InsertFormat;
  readonly counters: IngestCounters = {
    messages: 0,
    rows: 0,
    inserts: 0,
    duplicateRows: 0,
    insertFailures: 0,
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
        ? { message, copies: [], resets: validated.batch, agents: [] }
        : { message, copies: [], resets: undefined, agents: [heartbeatRow(validated.heartbeat)] };
    if (!this.pending.length) this.oldestAt = Date.now();
    this.pending.push(entry);
    this.inHand.set(message.streamSeq, entry);
    this.pendingRows += (entry.resets?.rows ?? 0) + entry.agents.length;
    if (this.pendingRows >= this.limits.maxRows) {
      // One insert runs while the next one's rows are read: waiting here only when
      // both are full bounds what is in hand to two inserts' worth.
      while (this.flushing) await this.flushing;
      void this.flush();
    }
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

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    clearInterval(this.keepAlive);
  }

  private flushIfDue(): void {
    if (
      this.pending.length &&
      !this.flushing &&
      Date.now() - this.oldestAt >= this.limits.maxDelayMs
    ) {
      void this.flush();
    }
  }

  private async insert(batch: Pending[]): Promise<void> {
    try {
      await this.insertRows(batch);
      batch.forEach((p) => this.settle(p, 'ack'));
    } catch (error) {
      this.counters.insertFailures += 1;
      this.logOnce('insert', `insert into ClickHouse failed, will retry: ${firstLine(error)}`);
      if (batch.length > 1 && (await this.storageAnswers())) {
        // The store is up, so one message's rows may be at fault: find it alone.
        for (const one of batch) await this.insertAlone(one);
      } else {
        batch.forEach((p) => this.settle(p, 'nak'));
      }
    }
  }

  private async insertAlone(one: Pending): Promise<void> {
    try {
      // A retry: the failed group insert may have stored this batch after all.
      await this.insertRows([one], true);
      this.settle(one, 'ack');
    } catch (error) {
      if (!(await this.storageAnswers())) return this.settle(one, 'nak');
      const stored = await this.refuse(one.message, 'insert_refused', firstLine(error));
      this.settle(one, stored ? 'ack' : 'nak');
    }
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
    const maybeStored = batch.filter((p) => (retry || p.message.redelivered) && p.resets);
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

  private async storageAnswers(): Promise<boolean> {
    try {
      await this.storage.query('SELECT 1');
      return true;
    } catch {
      return false;
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

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
