// The ingester's promises on a real embedded ClickHouse: ack only after the insert,
// a redelivered batch whose first insert succeeded (its ack was lost) adds no rows,
// and a failed insert naks instead of acking. The messages here are plain objects
// with the three calls JetStream messages have; the pipeline suites use real ones.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ingester } from '../collector/ingest/ingester.js';
import type { DeadLetterSink, InboundMessage } from '../collector/ingest/ingester.js';
import type { Storage } from '../collector/storage/storage.js';
import { resetBatchCodec } from '../proto/index.js';
import { resetsSubject } from '../proto/nats-topology.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
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
