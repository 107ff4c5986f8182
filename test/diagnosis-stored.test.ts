// Stored diagnoses: what the diagnoser writes is the view's row for every
// reset, a reset whose peer arrives late is diagnosed again, and the API
// answers the same whether a reset's diagnosis is stored, live, or the mark
// falls between the two ends of its flow. Real chDB, hand-made rows.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { QueryClient } from '../cli/query-client.js';
import { diagnosePass } from '../collector/diagnosis/diagnoser.js';
import { startDiagnoser } from '../collector/diagnosis/diagnoser-task.js';
import {
  DIAGNOSES_PROGRESS_TABLE,
  DIAGNOSES_TABLE,
} from '../collector/diagnosis/stored-diagnoses.js';
import { startQueryServer } from '../collector/query/index.js';
import type { QueryServer } from '../collector/query/index.js';
import type { Storage } from '../collector/storage/storage.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import {
  abortPair,
  closedPortPair,
  heartbeatRow,
  idleKill,
  rowTime,
  synSentReset,
  T0,
} from './lab/reset-rows.js';

let dir = '';
let storage: Storage;
let server: QueryServer | undefined;
let client: QueryClient | undefined;

const ns = (ms: number) => String(BigInt(T0 + ms) * 1_000_000n);
const WINDOW = { from_unix_ns: ns(-3_600_000), to_unix_ns: ns(3_600_000) };

/** Every reset_causes column of every reset, in one order: what "the view's rows" means. */
const viewRows = () => storage.query('SELECT * FROM reset_causes ORDER BY event_id');
const storedRows = () => storage.query(`SELECT * FROM ${DIAGNOSES_TABLE} ORDER BY event_id`);

/** What the API says about the fixture: top causes three ways, the list, two flows. */
async function answers(): Promise<unknown[]> {
  const c = client!;
  const tops = await Promise.all(
    ([[], ['TOP_CAUSES_GROUP_HOST'], ['TOP_CAUSES_GROUP_SERVICE_PAIR']] as const).map((group_by) =>
      c.topCauses({ filter: WINDOW, group_by: [...group_by], limit: 100 }),
    ),
  );
  // A group's example is any one of its resets' details (any(): cheapest over a
  // day of rows); which one depends on the order rows are read, and the stored
  // table and the live view read them in different orders. Every group has one.
  for (const top of tops) {
    for (const row of top.rows) {
      expect(row.example).not.toBe('');
      row.example = '(any)';
    }
  }
  const list = await c.listResets({ filter: WINDOW, page_size: 1000 });
  const flows = await Promise.all(
    [['10.1.0.2:41000', '10.2.0.2:8080'], ['10.1.0.2:42000']].map((endpoints) =>
      c.explainFlow({ endpoints, ...WINDOW }),
    ),
  );
  return [tops, list, flows];
}

/** Runs passes until the mark stops moving; settleMs places the mark. */
async function diagnoseAll(settleMs = 0): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const pass = await diagnosePass(storage, settleMs);
    if (pass.caughtUp) return;
  }
  throw new Error('the diagnoser did not catch up in 100 passes');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rstscope-stored-'));
  storage = await openEmbeddedStorage(join(dir, 'data'), { retentionDays: 3650 });
  await storage.insert('agents', [
    heartbeatRow('cli', ['10.1.0.2'], -600_000, 600_000),
    heartbeatRow('srv', ['10.2.0.2'], -600_000, 600_000),
  ]);
  // The client's record 2 s after the server's (within the match tolerance),
  // so a mark can fall between them.
  const [sent, received] = abortPair({ ms: 10_000, port: 8080, clientPort: 41000 });
  await storage.insert('resets', [
    ...closedPortPair(),
    sent!,
    { ...received!, ts: rowTime(12_000) },
    ...abortPair({ ms: 2_000, port: 8080, clientPort: 41001, natPort: 50001 }),
    idleKill({ ms: 3_000, clientPort: 42000, idleMs: 350_000 }),
    synSentReset({ ms: 4_000, port: 7002, ttl: 64, remote: '10.2.0.2' }),
  ]);
  server = await startQueryServer({
    listen: '127.0.0.1:0',
    storage,
    log: pino({ level: 'silent' }),
  });
  client = new QueryClient(server.address);
});

afterAll(async () => {
  try {
    client?.close();
    await server?.shutdown();
  } finally {
    await storage?.close();
    await rm(dir, { recursive: true, force: true });
  }
});

// Each pass and each answer is a diagnosis query: seconds apiece on a busy two-core VM.
vi.setConfig({ testTimeout: 300_000, hookTimeout: 120_000 });

describe('stored diagnoses', () => {
  it('hold the view’s row for every reset, and the API answers as it did live', async () => {
    const live = await answers();
    expect(await storage.query(`SELECT count() AS n FROM ${DIAGNOSES_TABLE}`)).toEqual([
      { n: '0' },
    ]);
    // A mark between the two ends of the abort (10 and 12 s): one end
    // stored, the other live, and the answers do not change.
    await diagnoseAll(Date.now() - (T0 + 11_000));
    const [mark] = await storage.query<{ until_ns: string }>(
      `SELECT toString(toUnixTimestamp64Nano(max(until))) AS until_ns FROM ${DIAGNOSES_PROGRESS_TABLE}`,
    );
    expect(BigInt(mark!.until_ns)).toBeGreaterThan(BigInt(ns(10_000)));
    expect(BigInt(mark!.until_ns)).toBeLessThan(BigInt(ns(12_000)));
    expect(await answers()).toEqual(live);
    await diagnoseAll();
    expect(await storedRows()).toEqual(await viewRows());
    expect(await answers()).toEqual(live);
  });

  it('a reset whose peer arrives after it was diagnosed is diagnosed again', async () => {
    const [sent, received] = abortPair({ ms: 5_000, port: 8080, clientPort: 41002 });
    await storage.insert('resets', [sent!]);
    await diagnoseAll();
    const lone = await storage.query<{ origin: string; peer_event_id: string | null }>(
      `SELECT origin, peer_event_id FROM ${DIAGNOSES_TABLE} WHERE local_port = 8080 AND remote_port = 41002`,
    );
    expect(lone).toEqual([{ origin: 'local', peer_event_id: null }]);
    await storage.insert('resets', [received!]);
    const pass = await diagnosePass(storage, 0);
    expect(pass.redone).toBeDefined();
    expect(await storedRows()).toEqual(await viewRows());
    const paired = await storage.query<{ direction: string; origin: string; match_rule: string }>(
      `SELECT direction, origin, match_rule FROM ${DIAGNOSES_TABLE}
       WHERE (local_port = 8080 AND remote_port = 41002) OR (local_port = 41002 AND remote_port = 8080)
       ORDER BY direction`,
    );
    expect(paired).toEqual([
      { direction: 'received', origin: 'peer', match_rule: 'rst' },
      { direction: 'sent', origin: 'local', match_rule: 'rst' },
    ]);
  });

  it('an address a running agent starts to report counts from its run’s start: diagnosed again', async () => {
    // A reset from an unwatched peer: unknown until an agent covers 10.3.0.3.
    await storage.insert('resets', [
      synSentReset({ ms: 6_000, port: 7003, ttl: 64, remote: '10.3.0.3' }),
    ]);
    await diagnoseAll();
    const origin = () =>
      storage.query<{ origin: string }>(
        `SELECT origin FROM ${DIAGNOSES_TABLE} WHERE remote_port = 7003`,
      );
    expect(await origin()).toEqual([{ origin: 'unknown' }]);
    await storage.insert('agents', [
      heartbeatRow('srv', ['10.2.0.2', '10.3.0.3'], -600_000, 610_000),
    ]);
    await diagnosePass(storage, 0);
    expect(await origin()).toEqual([{ origin: 'injected' }]);
    expect(await storedRows()).toEqual(await viewRows());
  });

  it('the collector’s task stores what arrives, pass after pass, and stops', async () => {
    const task = startDiagnoser(storage, pino({ level: 'silent' }), {
      intervalMs: 50,
      settleMs: 0,
    });
    try {
      await storage.insert('resets', [...abortPair({ ms: 7_000, port: 8080, clientPort: 41003 })]);
      const stored = async () => {
        const [row] = await storage.query<{ n: string }>(
          `SELECT count() AS n FROM ${DIAGNOSES_TABLE} WHERE 41003 IN (local_port, remote_port)`,
        );
        return row!.n;
      };
      const deadline = Date.now() + 120_000;
      while ((await stored()) !== '2' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await stored()).toBe('2');
    } finally {
      await task.stop();
    }
    expect(await storedRows()).toEqual(await viewRows());
  });
});
