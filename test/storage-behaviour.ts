// What every storage backend must do, asserted the same way on chDB and on a
// ClickHouse server. Call inside a describe(); `open` closes the previous
// storage (if any) and opens the same database again with the given retention.
import { expect, it } from 'vitest';
import { clusterDdl, clusterRetentionDdl, singleNodeTableDdl } from '../collector/storage/ddl.js';
import { StorageError } from '../collector/storage/errors.js';
import { LATEST_VERSION, MIGRATIONS } from '../collector/storage/migrations.js';
import type { Storage } from '../collector/storage/storage.js';
import { RESETS, TABLES } from '../collector/storage/tables.js';
import type { ResetEvent } from '../agent/reset-event.js';
import { readOnlyQueryBehaviour } from './read-only-query-behaviour.js';

export interface BehaviourContext {
  open(retentionDays: number): Promise<Storage>;
  /** The storage most recently opened. */
  storage(): Storage;
}

// Yesterday: inside the retention, so TTL merges leave the rows alone.
export const DAY = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);

const received: ResetEvent = {
  ts: `${DAY}T12:34:56.123456789Z`,
  host: 'node-a',
  boot_id: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
  direction: 'received',
  reason: 'UNKNOWN',
  accepted: true,
  drop_reason: null,
  state: 'ESTABLISHED',
  prev_state: 'ESTABLISHED',
  family: 'ipv4',
  local_addr: '10.0.0.1',
  local_port: 43512,
  remote_addr: '10.0.0.2',
  remote_port: 443,
  netns: 4026531840,
  sock_cookie: '18446744073709551615',
  cgroup_id: '9007199254740993',
  pid: 4242,
  tid: 4243,
  comm: 'curl',
  pid_source: 'owner',
  bytes_acked: 517,
  bytes_received: 4096,
  segs_in: 9,
  segs_out: 7,
  total_retrans: 0,
  srtt_us: 125,
  snd_una: 4294967295,
  snd_nxt: 4294967295,
  rcv_nxt: 12345,
  isn_local: 4294966778,
  isn_remote: 8249,
  isn_exact: true,
  unread_bytes: 0,
  unsent_bytes: 0,
  linger_on: false,
  linger_s: 0,
  last_sent_ms: 350000,
  last_recv_ms: 350001,
  survived_idle_ms: 2999,
  conn_age_ms: 351234.5,
  trigger_flags: null,
  trigger_seq: null,
  trigger_ack: null,
  rst_ttl: 61,
  rst_ip_id: 0,
  rst_seq: 12345,
  rst_ack: 0,
  rst_window: 0,
  peer_ttl: 54,
};

// Sent over IPv6, with an offset in ts (parsed with its zone) and nulls where sent resets have none.
const sent: ResetEvent = {
  ...received,
  ts: `${DAY}T14:34:56.000000001+02:00`,
  direction: 'sent',
  reason: 'NO_SOCKET',
  drop_reason: null,
  family: 'ipv6',
  local_addr: 'fd00::1',
  remote_addr: 'fd00::2',
  last_sent_ms: null,
  last_recv_ms: null,
  survived_idle_ms: null,
  conn_age_ms: null,
  trigger_flags: 'S',
  trigger_seq: 1,
  trigger_ack: 0,
  rst_ttl: null,
  rst_ip_id: null,
  rst_seq: null,
  rst_ack: null,
  rst_window: null,
  peer_ttl: null,
};

const heartbeat = {
  ts: `${DAY}T12:35:00.000000000Z`,
  host: 'node-a',
  boot_id: received.boot_id,
  run_id: 18446744073709551615n,
  agent_version: '0.1.0',
  kernel_release: '6.18.0',
  addresses: ['10.0.0.1', 'fd00::1'],
  netns: [4026531840],
  netns_names: [''],
  all_netns: true,
  seen: '12',
  lost_kernel: '0',
  dropped_agent: '0',
  published: '12',
  buffered: '0',
  batches_published: '3',
  batches_dropped: '0',
  decoded: '12',
  covered_from: `${DAY}T12:00:00.000000000Z`,
  interval_s: 10,
};

export function storageBehaviour(ctx: BehaviourContext): void {
  const s = () => ctx.storage();

  it('applies every migration once; a second run applies nothing', async () => {
    await expect(s().migrate()).resolves.toEqual({
      applied: MIGRATIONS.map((m) => m.version),
      current: LATEST_VERSION,
    });
    await expect(s().migrate()).resolves.toEqual({ applied: [], current: LATEST_VERSION });
  });

  it('creates the columns exactly as defined', async () => {
    for (const table of TABLES) {
      const columns = await s().query<{ name: string; type: string }>(
        'SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String} ORDER BY position',
        { t: table.name },
      );
      expect(columns).toEqual(table.columns.map(({ name, type }) => ({ name, type })));
    }
  });

  it('brings a store that version 2 created up to date: survived_idle_ms after last_recv_ms', async () => {
    // The store as version 2 left it: resets without the column, versions 1 and 2 recorded.
    await s().command('DROP TABLE resets SYNC');
    await s().command(
      singleNodeTableDdl({ ...RESETS, columns: RESETS.columns.filter((c) => (c.since ?? 0) <= 2) }),
    );
    await s().command('TRUNCATE TABLE schema_migrations');
    for (const { version, name } of MIGRATIONS.filter((m) => m.version <= 2)) {
      await s().command(
        'INSERT INTO schema_migrations (version, name) SELECT {version:UInt32}, {name:String}',
        { version, name },
      );
    }
    // Another host: later tests count node-a's rows.
    const upgraded = { ...received, host: 'node-upgraded', batch_id: 'v2/boot/1/1' };
    const before: Partial<ResetEvent> = { ...upgraded };
    delete before.survived_idle_ms;
    await s().insert('resets', [{ ...before, batch_index: 0 }]);

    await expect(s().migrate()).resolves.toEqual({
      applied: MIGRATIONS.filter((m) => m.version > 2).map((m) => m.version),
      current: LATEST_VERSION,
    });
    // The same columns, in the same order, as a fresh CREATE gives (the test above).
    const columns = await s().query<{ name: string; type: string }>(
      "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'resets' ORDER BY position",
    );
    expect(columns).toEqual(RESETS.columns.map(({ name, type }) => ({ name, type })));
    const [column] = await s().query(
      "SELECT compression_codec, comment FROM system.columns WHERE database = currentDatabase() AND table = 'resets' AND name = 'survived_idle_ms'",
    );
    const defined = RESETS.columns.find((c) => c.name === 'survived_idle_ms')!;
    expect(column).toEqual({
      compression_codec: `CODEC(${defined.codec})`,
      comment: defined.comment,
    });
    // A row stored before the upgrade reads as unknown; new rows carry the value.
    await s().insert('resets', [{ ...upgraded, batch_index: 1 }]);
    const rows = await s().query(
      "SELECT batch_index, last_recv_ms, survived_idle_ms FROM resets WHERE batch_id = 'v2/boot/1/1' ORDER BY batch_index",
    );
    expect(rows).toEqual([
      { batch_index: 0, last_recv_ms: 350001, survived_idle_ms: null },
      { batch_index: 1, last_recv_ms: 350001, survived_idle_ms: 2999 },
    ]);
    await expect(s().migrate()).resolves.toEqual({ applied: [], current: LATEST_VERSION });
  });

  it('sets the retention TTL and changes it only when the setting changes', async () => {
    const ttl = async () => {
      const [row] = await s().query<{ engine_full: string }>(
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'resets'",
      );
      return /TTL (.*?)(?= SETTINGS|$)/.exec(row?.engine_full ?? '')?.[1];
    };
    // MODIFY TTL is a mutation; counting them shows whether an ALTER ran.
    const mutations = async () =>
      Number(
        (
          await s().query<{ n: string }>(
            'SELECT count() AS n FROM system.mutations WHERE database = currentDatabase()',
          )
        )[0]?.n,
      );
    expect(await ttl()).toBe('toDateTime(ts) + toIntervalDay(14)');
    await ctx.open(30);
    await expect(s().migrate()).resolves.toEqual({ applied: [], current: LATEST_VERSION });
    expect(await ttl()).toBe('toDateTime(ts) + toIntervalDay(30)');
    const before = await mutations();
    await ctx.open(30);
    await s().migrate();
    expect(await mutations()).toBe(before);
    await ctx.open(14);
    await s().migrate();
    expect(await ttl()).toBe('toDateTime(ts) + toIntervalDay(14)');
  });

  it('drops rows older than the retention', async () => {
    const old = new Date(Date.now() - 40 * 86_400_000).toISOString().slice(0, 10);
    const batch = (ts: string) => ({
      ts,
      host: 'node-old',
      batch_id: 'old/boot/1/1',
      batch_index: 0,
    });
    await s().insert('resets', [
      batch(`${old}T00:00:00Z`),
      { ...batch(`${DAY}T00:00:00Z`), batch_index: 1 },
    ]);
    await s().command('OPTIMIZE TABLE resets FINAL');
    const rows = await s().query<{ batch_index: number }>(
      "SELECT batch_index FROM resets WHERE batch_id = 'old/boot/1/1'",
    );
    expect(rows).toEqual([{ batch_index: 1 }]);
  });

  it('stores resets with exact types: v4-mapped addresses, nulls, 64-bit strings, 9-digit ts', async () => {
    await s().insert('resets', [
      { ...received, batch_id: 'node-a/boot/1/7', batch_index: 0 },
      { ...sent, sock_cookie: 2n ** 64n - 2n, batch_id: 'node-a/boot/1/7', batch_index: 1 },
    ]);
    const rows = await s().query(
      'SELECT * EXCEPT inserted_at, inserted_at > now64(3) - INTERVAL 1 HOUR AS fresh FROM resets WHERE batch_id = {b:String} ORDER BY batch_index',
      { b: 'node-a/boot/1/7' },
    );
    const stored = (e: ResetEvent) => ({
      // Columns these rows do not give: their defaults, the pod and both ends unnamed.
      ...Object.fromEntries(
        RESETS.columns
          .filter((c) => c.since === 4)
          .map((c) => [
            c.name,
            c.type.startsWith('Array') ? [] : c.type.startsWith('Map') ? {} : '',
          ]),
      ),
      ...e,
      local_addr: e.family === 'ipv4' ? `::ffff:${e.local_addr}` : e.local_addr,
      remote_addr: e.family === 'ipv4' ? `::ffff:${e.remote_addr}` : e.remote_addr,
      bytes_acked: String(e.bytes_acked),
      bytes_received: String(e.bytes_received),
      batch_id: 'node-a/boot/1/7',
      fresh: 1,
    });
    expect(rows).toEqual([
      { ...stored(received), ts: `${DAY} 12:34:56.123456789`, batch_index: 0 },
      {
        ...stored(sent),
        ts: `${DAY} 12:34:56.000000001`,
        sock_cookie: '18446744073709551614',
        batch_index: 1,
      },
    ]);
  });

  it('stores rows given as TabSeparated, the same as JSON', async () => {
    const columns = [
      'ts',
      'host',
      'local_addr',
      'remote_addr',
      'rst_ttl',
      'sock_cookie',
      'batch_id',
      'batch_index',
    ];
    await s().insertTsv(
      'resets',
      columns,
      `${DAY}T12:00:00.000000001Z\tnode-tsv\t10.0.0.1\tfd00::2\t\\N\t18446744073709551615\ttsv/b/1/1\t0\n` +
        `${DAY}T12:00:00.000000002Z\tnode-tsv\t10.0.0.1\tfd00::2\t61\t1\ttsv/b/1/1\t1\n` +
        // Seconds since the epoch, as the collector's TSV path writes ts.
        `${Date.parse(`${DAY}T12:00:00Z`) / 1000}.000000003\tnode-tsv\t10.0.0.1\tfd00::2\t\\N\t2\ttsv/b/1/1\t2\n`,
    );
    const rows = await s().query(
      `SELECT ${columns.join(', ')} FROM resets WHERE host = 'node-tsv' ORDER BY batch_index`,
    );
    expect(rows).toEqual([
      {
        ts: `${DAY} 12:00:00.000000001`,
        host: 'node-tsv',
        local_addr: '::ffff:10.0.0.1',
        remote_addr: 'fd00::2',
        rst_ttl: null,
        sock_cookie: '18446744073709551615',
        batch_id: 'tsv/b/1/1',
        batch_index: 0,
      },
      expect.objectContaining({ ts: `${DAY} 12:00:00.000000002`, rst_ttl: 61, batch_index: 1 }),
      expect.objectContaining({ ts: `${DAY} 12:00:00.000000003`, batch_index: 2 }),
    ]);
    await expect(s().insertTsv('resets', ['host', 'nonsense'], 'a\tb\n')).rejects.toThrow(
      /^insert of 1 rows into resets failed: .*nonsense/,
    );
  });

  it('stores heartbeats, and a redelivered one collapses', async () => {
    await s().insert('agents', [heartbeat]);
    await s().insert('agents', [heartbeat]);
    const rows = await s().query('SELECT * EXCEPT inserted_at FROM agents FINAL');
    expect(rows).toEqual([
      {
        ...heartbeat,
        ts: `${DAY} 12:35:00.000000000`,
        run_id: '18446744073709551615',
        addresses: ['::ffff:10.0.0.1', 'fd00::1'],
        covered_from: `${DAY} 12:00:00.000000000`,
        aggregated: '0',
        aggregates: [],
        sent_netns: [],
        kernel_out_rsts: [],
        seen_sent: [],
        clock_offset_ms: null,
      },
    ]);
  });

  it('reports a failed statement as one line with the engine error name', async () => {
    const err = await s()
      .query('SELECT * FROM no_such_table')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).message).not.toContain('\n');
    expect((err as StorageError).message).toMatch(/no_such_table.*\(UNKNOWN_TABLE\)$/);
    await expect(s().insert('resets', [{ nonsense: 1 }])).rejects.toThrow(
      /^insert of 1 rows into resets failed: .*nonsense/,
    );
  });

  it('generates cluster and single-node DDL the engine parses', async () => {
    const statements = [
      ...clusterDdl('rstscope_cluster', 'rstscope'),
      ...clusterRetentionDdl('rstscope_cluster', 'rstscope', 7),
      ...TABLES.map((t) => singleNodeTableDdl(t, 14)),
    ];
    for (const statement of statements) {
      const ast = (await s().query<{ explain: string }>(`EXPLAIN AST ${statement}`)).map(
        (r) => r.explain,
      );
      const columns = ast.filter((line) => line.trim().startsWith('ColumnDeclaration')).length;
      // The created table's own name: another's may appear as a column or in a comment.
      const created = /^CREATE TABLE IF NOT EXISTS (?:`\w+`\.)?`(\w+?)(?:_local)?`/.exec(statement);
      const table = TABLES.find((t) => t.name === created?.[1]);
      if (/^CREATE TABLE/.test(statement) && !/ENGINE = Distributed/.test(statement)) {
        expect(columns).toBe(table?.columns.length);
      }
    }
  });

  readOnlyQueryBehaviour(ctx);
}
