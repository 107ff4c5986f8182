// The ingester's promises on a real embedded ClickHouse: ack only after the insert,
// a redelivered batch whose first insert succeeded (its ack was lost) adds no rows,
// and a failed insert naks instead of acking. When inserts fail, the store's faults
// (disk full, every message failing alone) hold the messages and retry with back-off,
// while a message the store refuses among good ones is dead-lettered alone. The
// messages here are plain objects with the three calls JetStream messages have; the
// pipeline suites use real ones. Failures are the real store's, or errors made the
// way the store makes them (chdbError) from ClickHouse's own error text.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ingester } from '../collector/ingest/ingester.js';
import type { DeadLetterSink, InboundMessage } from '../collector/ingest/ingester.js';
import { chdbError } from '../collector/storage/chdb-session.js';
import { StorageError } from '../collector/storage/errors.js';
import { classifyStoreFailure } from '../collector/storage/store-failure.js';
import type { Storage } from '../collector/storage/storage.js';
import { resetBatchCodec } from '../proto/index.js';
import { resetsSubject } from '../proto/nats-topology.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import { until } from './lab/until.js';
import { closedPortWireEvent } from './lab/wire-events.js';

let dir: string;
let storage: Storage;
const log = pino({ level: 'silent' });
const noDeadLetters: DeadLetterSink = {
  put: () => Promise.reject(new Error('nothing should be refused here')),
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rstscope-ingester-'));
  storage = await openEmbeddedStorage(dir);
});

afterAll(async () => {
  await storage?.close();
  rmSync(dir, { recursive: true, force: true });
});

// One fixed time: a redelivery carries the very bytes of the first delivery.
const TS_NS = `${BigInt(Date.now()) * 1_000_000n + 123n}`;

const event = (port: number) => closedPortWireEvent({ ts_unix_ns: TS_NS, local_port: port });

function message(seq: number, ports: number[], redelivered: boolean) {
  const acks: string[] = [];
  const m: InboundMessage = {
    streamSeq: seq,
    subject: resetsSubject('ingest-host'),
    data: resetBatchCodec.encode({
      host: 'ingest-host',
      boot_id: 'boot',
      run_id: '7',
      seq: String(seq),
      events: ports.map(event),
    }),
    redelivered,
    ack: () => acks.push('ack'),
    nak: () => acks.push('nak'),
    working: () => {},
  };
  return { m, acks };
}

function ingesterOn(store: Storage): Ingester {
  return new Ingester(
    store,
    noDeadLetters,
    { maxRows: 1000, maxDelayMs: 50, workingEveryMs: 1000 },
    1 << 20,
    log,
  );
}

/** The real store with some of its methods replaced (a class instance cannot be spread). */
function storageWith(
  overrides: Partial<Pick<Storage, 'insert' | 'insertTsv' | 'insertNative'>>,
): Storage {
  return new Proxy(storage, {
    get(target, name, receiver) {
      if (name in overrides) return overrides[name as keyof typeof overrides];
      const value: unknown = Reflect.get(target, name, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const count = async () =>
  Number(
    (
      await storage.query<{ n: string }>(
        "SELECT count() AS n FROM resets WHERE host = 'ingest-host'",
      )
    )[0]!.n,
  );

describe('ingester', () => {
  it('acks after the insert, and a redelivered batch adds no duplicate rows', async () => {
    const ingester = ingesterOn(storage);
    const first = message(1, [1, 2, 3], false);
    await ingester.add(first.m);
    expect(first.acks).toEqual([]); // not before the insert
    await ingester.flush();
    expect(first.acks).toEqual(['ack']);
    expect(await count()).toBe(3);

    // The ack was lost: JetStream delivers the same batch again, now with a new one.
    const again = message(1, [1, 2, 3], true);
    const next = message(2, [4], false);
    await ingester.add(again.m);
    await ingester.add(next.m);
    await ingester.close();
    expect(again.acks).toEqual(['ack']);
    expect(next.acks).toEqual(['ack']);
    expect(await count()).toBe(4);
    expect(ingester.counters.duplicateRows).toBe(3);
  });

  it('a second delivery that arrives while the first is still in hand is stored once, both acked', async () => {
    const ingester = ingesterOn(storage);
    const first = message(5, [6, 7], false);
    const copy = message(5, [6, 7], true);
    await ingester.add(first.m);
    await ingester.add(copy.m);
    await ingester.close();
    expect(first.acks).toEqual(['ack']);
    expect(copy.acks).toEqual(['ack']);
    expect(await count()).toBe(6);
  });
});

// chDB takes Native blocks; a store without insertNative (a ClickHouse server) takes TSV.
describe.each([
  { format: 'native', base: 8 },
  { format: 'tsv', base: 11 },
] as const)('ingester inserting $format', ({ format, base }) => {
  /** The store with its resets insert for this format replaced, the other format gone. */
  const withResetsInsert = (
    insert: (real: () => Promise<void>) => Promise<void>,
    overrides: Partial<Pick<Storage, 'insert'>> = {},
  ) =>
    format === 'native'
      ? storageWith({
          ...overrides,
          insertNative: (...args) => insert(() => storage.insertNative!(...args)),
        })
      : storageWith({
          ...overrides,
          insertNative: undefined,
          insertTsv: (...args) => insert(() => storage.insertTsv(...args)),
        });

  it('an insert that committed but reported failure is not stored twice by the retry', async () => {
    const before = await count();
    let first = true;
    // The server stored the rows, then the client gave up (a timeout): it throws.
    const flaky = withResetsInsert(async (real) => {
      await real();
      if (first) {
        first = false;
        throw new Error('timeout after commit');
      }
    });
    const ingester = ingesterOn(flaky);
    const a = message(20 + base * 10, [20, 21], false);
    const b = message(21 + base * 10, [22], false);
    await ingester.add(a.m);
    await ingester.add(b.m);
    await ingester.close();
    expect([a.acks, b.acks]).toEqual([['ack'], ['ack']]);
    expect(await count()).toBe(before + 3);
  });

  it('naks, never acks, when the store refuses the insert', async () => {
    const before = await count();
    // The real store, except that every insert fails (what a full disk looks like).
    const failing = withResetsInsert(() => Promise.reject(new Error('disk full')), {
      insert: () => Promise.reject(new Error('disk full')),
    });
    const ingester = ingesterOn(failing);
    const one = message(3 + base * 10, [5], false);
    await ingester.add(one.m);
    await ingester.close();
    expect(one.acks).toEqual(['nak']);
    expect(await count()).toBe(before);
  });
});

// Batch ids (host, boot, run, seq) must differ from every other test's: the store
// de-duplicates a retried batch by them. This part uses seq 200 and up.
let nextSeq = 300;

/** What ClickHouse says, as the chDB backend hands it on (a StorageError with the name). */
const engine = (text: string) => chdbError(new Error(`Code: 1. DB::Exception: ${text}`), 'insert');
const DISK_FULL = () => engine('Cannot reserve 1.00 MiB, not enough space. (NOT_ENOUGH_SPACE)');

describe('store failures are told from refused rows', () => {
  it.each([
    [DISK_FULL(), 'disk_full', 'store'],
    [
      Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }),
      'disk_full',
      'store',
    ],
    [
      engine(
        'Cannot write to file /d/tmp_insert/data.bin, errno: 28, strerror: No space left on device. (CANNOT_WRITE_TO_FILE_DESCRIPTOR)',
      ),
      'disk_full',
      'store',
    ],
    [
      new StorageError('cannot reach ClickHouse at http://db:8123', {
        cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      }),
      'unreachable',
      'store',
    ],
    [
      engine('Too many parts (3001 with average size of 9.1 KiB) in table. (TOO_MANY_PARTS)'),
      'overloaded',
      'store',
    ],
    [
      engine('Memory limit (total) exceeded: would use 3.5 GiB. (MEMORY_LIMIT_EXCEEDED)'),
      'overloaded',
      'store',
    ],
    [
      engine('Table is in readonly mode: replica_path=/c/r. (TABLE_IS_READ_ONLY)'),
      'read_only',
      'store',
    ],
    [
      engine(
        'collector: Not enough privileges. To execute this query, it is necessary to have the grant INSERT ON rstscope.resets. (ACCESS_DENIED)',
      ),
      'denied',
      'store',
    ],
    [
      engine(
        "Cannot parse input: expected '\\t' before: 'x'. (CANNOT_PARSE_INPUT_ASSERTION_FAILED)",
      ),
      'rows',
      'rows',
    ],
    [engine('Cannot parse datetime 2026-13-01. (CANNOT_PARSE_DATETIME)'), 'rows', 'rows'],
    [engine('Something nobody expected. (LOGICAL_ERROR)'), 'unknown', 'unknown'],
    [new Error('disk full'), 'unknown', 'unknown'],
  ] as const)('%s → %s', (error, kind, scope) => {
    expect(classifyStoreFailure(error)).toMatchObject({ kind, scope });
  });

  it("the real engine's errors: bad rows are the rows', a missing table is the store's", async () => {
    const badRows = await storage.insertTsv('resets', ['ts', 'host'], 'not a time\\thost\n').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(classifyStoreFailure(badRows)).toMatchObject({ scope: 'rows' });
    const noTable = await storage.command('INSERT INTO resets_gone (x) VALUES (1)').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(classifyStoreFailure(noTable)).toMatchObject({ kind: 'schema', scope: 'store' });
  });
});

describe('ingester when the store fails', () => {
  /** Log lines as objects, to count what an operator reads. */
  function captured(): { log: Logger; lines: { level: number; msg: string }[] } {
    const lines: { level: number; msg: string }[] = [];
    const stream = { write: (line: string) => void lines.push(JSON.parse(line)) };
    return { log: pino({ level: 'debug' }, stream), lines };
  }

  const recorded = () => {
    const put: string[] = [];
    const sink: DeadLetterSink = {
      put: (m, kind) => {
        put.push(`${m.streamSeq}:${kind}`);
        return Promise.resolve();
      },
    };
    return { sink, put };
  };

  /** The real store; every insert fails with `fail()`'s error while it returns one. */
  function breakable(fail: (rows: number) => Error | undefined): Storage {
    const gate =
      <A extends unknown[]>(rowsOf: (...args: A) => number, real: (...args: A) => Promise<void>) =>
      (...args: A) => {
        const error = fail(rowsOf(...args));
        return error ? Promise.reject(error) : real(...args);
      };
    return storageWith({
      insert: gate((_t, rows) => rows.length, storage.insert.bind(storage)),
      insertTsv: gate(
        (_t, _c, text) => text.split('\n').length - 1,
        storage.insertTsv.bind(storage),
      ),
      insertNative: gate((_t, _c, _b, rows) => rows, storage.insertNative!.bind(storage)),
    });
  }

  const fast = {
    maxRows: 1000,
    maxDelayMs: 20,
    workingEveryMs: 1000,
    retry: { firstDelayMs: 50, maxDelayMs: 200 },
  };

  it('disk full: nothing acked or dead-lettered, retried with back-off, stored once when space is back', async () => {
    const before = await count();
    let full = true;
    const store = breakable(() => (full ? DISK_FULL() : undefined));
    const { sink, put } = recorded();
    const { log, lines } = captured();
    const ingester = new Ingester(store, sink, fast, 1 << 20, log);
    const messages = [
      message(200, [31, 32], false),
      message(201, [33], false),
      message(202, [34], false),
    ];
    for (const { m } of messages) await ingester.add(m);

    await until(() => ingester.counters.storeFailures >= 4, 'four failed attempts');
    expect(messages.map((x) => x.acks)).toEqual([[], [], []]);
    expect(put).toEqual([]);
    expect(ingester.counters.refused).toEqual({});
    expect(ingester.storeState()).toMatchObject({
      state: 'failing',
      kind: 'disk_full',
      heldMessages: 3,
    });
    // Back-off: attempts at 50, 100, 200, 200 ms after each other, not one per tick.
    expect(ingester.counters.storeFailures).toBeLessThan(12);
    const said = lines.filter((l) => l.level >= 40).map((l) => l.msg);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(
      /^ClickHouse store: disk full at .*NOT_ENOUGH_SPACE.*holding 3 messages in JetStream, retrying in [\d.]+ s; free space/,
    );

    full = false;
    await until(() => messages.every((x) => x.acks.length === 1), 'every message acked');
    expect(messages.map((x) => x.acks)).toEqual([['ack'], ['ack'], ['ack']]);
    expect(await count()).toBe(before + 4);
    expect(ingester.storeState()).toEqual({ state: 'ok' });
    expect(ingester.counters.storeOutages).toBe(1);
    const back = lines.filter((l) => l.level >= 40).map((l) => l.msg);
    expect(back).toHaveLength(2);
    expect(back[1]).toMatch(
      /^ClickHouse store at .* is back after .* failed attempts\): 3 messages stored$/,
    );
    await ingester.close();
    expect(put).toEqual([]);
  });

  it('every message failing alone, for no reason its rows explain, is the store failing: held, not dead-lettered', async () => {
    const before = await count();
    let broken = true;
    const store = breakable(() =>
      broken ? engine('Something nobody expected. (LOGICAL_ERROR)') : undefined,
    );
    const { sink, put } = recorded();
    const ingester = new Ingester(store, sink, fast, 1 << 20, captured().log);
    const messages = [message(210, [41], false), message(211, [42], false)];
    for (const { m } of messages) await ingester.add(m);
    await until(() => ingester.counters.storeFailures >= 2, 'two failed attempts');
    expect(put).toEqual([]);
    expect(messages.map((x) => x.acks)).toEqual([[], []]);
    expect(ingester.storeState()).toMatchObject({ state: 'failing', kind: 'unknown' });
    broken = false;
    await until(() => messages.every((x) => x.acks.length === 1), 'every message acked');
    expect(messages.map((x) => x.acks)).toEqual([['ack'], ['ack']]);
    expect(await count()).toBe(before + 2);
    await ingester.close();
  });

  it.each([
    [
      'rows it cannot parse',
      () => engine("Cannot parse input: expected '\\t'. (CANNOT_PARSE_INPUT_ASSERTION_FAILED)"),
    ],
    ['an error nobody expected', () => engine('Something nobody expected. (LOGICAL_ERROR)')],
  ])(
    'one message the store refuses (%s) among good ones is dead-lettered alone',
    async (_, error) => {
      const before = await count();
      // The bad message carries 7 events: any insert with it fails, any without goes in.
      const store = breakable((rows) => (rows >= 7 ? error() : undefined));
      const { sink, put } = recorded();
      const ingester = new Ingester(store, sink, fast, 1 << 20, captured().log);
      const seq = (nextSeq += 10);
      const good = message(seq, [51], false);
      const bad = message(seq + 1, [52, 53, 54, 55, 56, 57, 58], false);
      const alsoGood = message(seq + 2, [59, 60], false);
      for (const { m } of [good, bad, alsoGood]) await ingester.add(m);
      await ingester.flush();
      expect([good.acks, bad.acks, alsoGood.acks]).toEqual([['ack'], ['ack'], ['ack']]);
      expect(put).toEqual([`${seq + 1}:insert_refused`]);
      expect(await count()).toBe(before + 3);
      expect(ingester.counters.storeOutages).toBe(0);
      await ingester.close();
    },
  );

  it('while the store fails, add() waits once an insert is in hand; stopTaking() frees it; close() gives all back', async () => {
    const store = breakable(() => DISK_FULL());
    const ingester = new Ingester(
      store,
      recorded().sink,
      { ...fast, maxRows: 2 },
      1 << 20,
      captured().log,
    );
    const first = message(230, [61, 62], false);
    const second = message(231, [63, 64], false);
    await ingester.add(first.m); // full: its insert starts, and fails
    await until(() => ingester.storeState().state === 'failing', 'the store failing');
    let taken = false;
    const adding = ingester.add(second.m).then(() => (taken = true));
    await new Promise((r) => setTimeout(r, 500));
    expect(taken).toBe(false); // back-pressure: the intake pulls nothing more
    ingester.stopTaking();
    await adding;
    await ingester.close();
    // Given back to JetStream, for the next collector: never acked, never dead-lettered.
    expect([first.acks, second.acks]).toEqual([['nak'], ['nak']]);
  });
});

// Last: it adds rows to ingest-host, which the counts above are absolute about.
describe('ingester, late republish', () => {
  it('a batch published again past the duplicate window, as a new message, adds no duplicate rows', async () => {
    const ingester = ingesterOn(storage);
    const first = message(40, [41, 42], false);
    await ingester.add(first.m);
    await ingester.flush();
    const before = await count();
    // Its ack was lost and NATS was away for 20 minutes: JetStream no longer knows
    // the message id and stores it as a new message, not a redelivery.
    const late = message(40, [41, 42], false);
    late.m.receivedAtNs = BigInt(TS_NS) + 20n * 60n * 1_000_000_000n;
    // A batch within the window is not looked up (and it is new: stored).
    const fresh = message(43, [44], false);
    fresh.m.receivedAtNs = BigInt(TS_NS) + 2_000_000_000n;
    await ingester.add(late.m);
    await ingester.add(fresh.m);
    await ingester.close();
    expect(late.acks).toEqual(['ack']);
    expect(await count()).toBe(before + 1);
    expect(ingester.counters.duplicateRows).toBe(2);
  });
});
