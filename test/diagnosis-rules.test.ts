// The diagnosis views' rules on hand-made rows in real ClickHouse (chDB): each
// row has the shape the agent records for that kind of reset on this kernel, so
// every rule is exercised without a lab. The lab proves the same on real resets
// (diagnosis.test.ts).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../agent/repo-root.js';
import { CAUSES } from '../collector/diagnosis/causes.js';
import { KNOWN_IDLE_TIMEOUTS } from '../collector/diagnosis/idle-timeouts.js';
import { installDiagnosisViews } from '../collector/diagnosis/views.js';
import { flowStories } from '../collector/diagnosis/flow-story.js';
import type { CauseRow } from '../collector/diagnosis/flow-story.js';
import type { Row, Storage } from '../collector/storage/storage.js';
import { openEmbeddedStorage } from './lab/embedded-storage.js';
import {
  abortPair,
  clientReset,
  closedPortPair,
  heartbeatRow,
  idleKill,
  resetRow,
  rowTime,
  synSentReset,
  v4,
} from './lab/reset-rows.js';

let dir = '';
let storage: Storage;
async function causes(where: string, order = 'ts, direction'): Promise<Row[]> {
  return storage.query(`SELECT * FROM reset_causes WHERE ${where} ORDER BY ${order}`);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rstscope-rules-'));
  // The rows are dated 2026-11-21: a long retention so TTL never drops them.
  storage = await openEmbeddedStorage(join(dir, 'data'), { retentionDays: 3650 });
  await installDiagnosisViews(storage);
});

afterAll(async () => {
  await storage?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('diagnosis rules', () => {
  it('closed port: the two ends match on the RST numbers, both closed_port, origin peer', async () => {
    await storage.insert('agents', [
      heartbeatRow('cli', ['10.1.0.2'], -60_000, 60_000),
      heartbeatRow('srv', ['10.2.0.2'], -60_000, 60_000),
    ]);
    await storage.insert('resets', [...closedPortPair()]);
    const rows = await causes('local_port = 7001 OR remote_port = 7001');
    expect(rows.map((r) => [r.direction, r.origin, r.cause, r.match_rule])).toEqual([
      ['sent', 'local', 'closed_port', 'rst'],
      ['received', 'peer', 'closed_port', 'rst'],
    ]);
    expect(rows[1]).toMatchObject({ hop_distance: 2, sender_host: 'srv', seq_exact: true });
  });

  it('a reset in SYN_SENT the watched server never sent: firewall_reject, injected, hop 1', async () => {
    await storage.insert('resets', [
      synSentReset({ ms: 2000, port: 7002, ttl: 64, remote: '10.2.0.2' }),
      synSentReset({ ms: 2000, port: 7003, ttl: 61, remote: '10.9.9.9' }),
    ]);
    const [watched, unwatched] = await causes('remote_port IN (7002, 7003)', 'remote_port');
    expect(watched).toMatchObject({
      origin: 'injected',
      cause: 'firewall_reject',
      hop_distance: 1,
      peer_watchers: ['srv'],
      detail: 'injected 1 hop from cli',
    });
    // Nobody watches 10.9.9.9: no verdict on the origin, the TTL evidence stays.
    expect(unwatched).toMatchObject({
      origin: 'unknown',
      cause: 'closed_port',
      rst_ttl: 61,
      hop_distance: 4,
      peer_watchers: [],
    });
  });

  it('idle kills and a survived silence bracket the timeout and name known products', async () => {
    await storage.insert('resets', [
      // Flow A: survived 3 s of silence, then the server's application aborted it.
      ...abortPair({ ms: 10_000, port: 7010, clientPort: 41010, survivedMs: 3000 }),
      // Flows B and C: killed by the router when they resumed after 7 s and 9 s.
      idleKill({ ms: 11_000, clientPort: 41011, idleMs: 7000 }),
      idleKill({ ms: 12_000, clientPort: 41012, idleMs: 9000 }),
    ]);
    const rows = await causes("host = 'cli' AND remote_port = 7010");
    expect(rows.map((r) => [r.local_port, r.origin, r.cause])).toEqual([
      [41010, 'peer', 'app_abort_linger'],
      [41011, 'injected', 'idle_timeout'],
      [41012, 'injected', 'idle_timeout'],
    ]);
    expect(rows[1]).toMatchObject({ idle_ms: 7000, detail: 'after 7.0 s idle', hop_distance: 1 });
    const [box] = await storage.query('SELECT * FROM middleboxes WHERE destination_port = 7010');
    expect(box).toMatchObject({
      source_host: 'cli',
      destination_hosts: ['srv'],
      kind: 'idle_kill',
      hop_distance: 1,
      rst_ttl: 64,
      peer_ttl: 63,
      resets: '2',
      shortest_killed_idle_ms: 7000,
      longest_killed_idle_ms: 9000,
      longest_survived_idle_ms: 3000,
      timeout_above_ms: 3000,
      timeout_at_most_ms: 7000,
      known_timeouts: [],
    });

    // Another path: killed after 351 s, survived 349 s: the AWS NAT gateway's 350 s.
    await storage.insert('resets', [
      clientReset({
        ms: 13_000,
        port: 7011,
        clientPort: 41013,
        rstSeq: 1,
        rstAck: 0,
        ttl: 62,
        idleMs: 351_000,
        survivedMs: 349_000,
      }),
    ]);
    const [aws] = await storage.query('SELECT * FROM middleboxes WHERE destination_port = 7011');
    expect(aws).toMatchObject({
      hop_distance: 3,
      timeout_above_ms: 349_000,
      timeout_at_most_ms: 351_000,
    });
    expect(aws!.known_timeouts).toContain('AWS NAT gateway (350 s)');
  });

  it('through SNAT the two ends see different tuples and still match as one flow', async () => {
    await storage.insert(
      'resets',
      abortPair({ ms: 20_000, port: 7020, clientPort: 41020, natPort: 62020 }),
    );
    const [flow] = await storage.query('SELECT * FROM flows WHERE receiver_remote_port = 7020');
    expect(flow).toMatchObject({
      origin: 'peer',
      cause: 'app_abort_linger',
      match_rule: 'rst',
      receiver_host: 'cli',
      receiver_addr: v4('10.1.0.2'),
      receiver_port: 41020,
      sender_host: 'srv',
      sender_remote_addr: v4('10.2.0.1'),
      sender_remote_port: 62020,
      sender_comm: 'server',
    });
  });

  it('a host without state answering for an address another watched host holds: not_the_peer', async () => {
    await storage.insert('agents', [
      heartbeatRow('srv-a', ['10.3.0.2'], -60_000, 60_000),
      heartbeatRow('impostor', ['10.3.0.2'], -60_000, 60_000),
    ]);
    await storage.insert('resets', [
      resetRow({
        ts: rowTime(30_000),
        host: 'impostor',
        direction: 'sent',
        reason: 'NO_SOCKET',
        state: 'CLOSE',
        local_addr: v4('10.3.0.2'),
        local_port: 7030,
        remote_addr: v4('10.1.0.2'),
        remote_port: 41030,
        trigger_flags: 'PSH|ACK',
        trigger_seq: 5000,
        trigger_ack: 9000,
      }),
      clientReset({
        ms: 30_001,
        remote: '10.3.0.2',
        port: 7030,
        clientPort: 41030,
        rstSeq: 9000,
        rstAck: 0,
        ttl: 63,
      }),
    ]);
    const rows = await causes('local_port = 7030 OR remote_port = 7030');
    expect(rows.map((r) => [r.host, r.origin, r.cause])).toEqual([
      ['impostor', 'local', 'not_the_peer'],
      ['cli', 'injected', 'not_the_peer'],
    ]);
    expect(rows[1]).toMatchObject({
      sender_host: 'impostor',
      detail: 'impostor answered for 10.3.0.2, which srv-a holds',
    });
  });

  it('without a kernel reason, the socket evidence names the cause', async () => {
    const sent = (port: number, fields: Row) =>
      resetRow({
        ts: rowTime(40_000),
        host: 'srv',
        direction: 'sent',
        reason: 'UNKNOWN',
        state: 'CLOSE',
        local_addr: v4('10.2.0.2'),
        local_port: port,
        remote_addr: v4('10.1.0.2'),
        remote_port: 42000 + port,
        ...fields,
      });
    await storage.insert('resets', [
      sent(7040, { trigger_flags: 'SYN', trigger_seq: 1 }),
      sent(7041, { sock_cookie: 9, unread_bytes: 1000, pid_source: 'context' }),
      sent(7042, { sock_cookie: 9, linger_on: true, linger_s: 0, pid_source: 'context' }),
      sent(7043, {
        sock_cookie: 9,
        prev_state: 'FIN_WAIT2',
        trigger_flags: 'PSH|ACK',
        trigger_seq: 7,
        trigger_ack: 8,
      }),
      sent(7044, { sock_cookie: 0, trigger_flags: 'PSH|ACK', trigger_seq: 7, trigger_ack: 9 }),
      sent(7045, {
        sock_cookie: 9,
        state: 'ESTABLISHED',
        pid_source: 'owner',
        last_recv_ms: 75_000,
      }),
    ]);
    const rows = await causes("host = 'srv' AND local_port BETWEEN 7040 AND 7045", 'local_port');
    expect(rows.map((r) => r.cause)).toEqual([
      'closed_port',
      'close_unread_data',
      'app_abort_linger',
      'data_after_close',
      'peer_lost_state',
      'keepalive_timeout',
    ]);
  });
});

describe('the story explain tells', () => {
  it('an idle kill: received, never sent by the watched peer, TTL evidence, cause and fix', async () => {
    const rows = await causes("host = 'cli' AND local_port = 41011");
    const [story] = flowStories(rows as unknown as CauseRow[]);
    expect(story).toEqual([
      `10.1.0.2:41011 (cli) received a reset from 10.2.0.2:7010 at ${String(rows[0]!.ts)} UTC, in ESTABLISHED.`,
      '10.2.0.2:7010 (srv) never sent one, and its agent watched that address then.',
      "RST TTL 64, srv's segments arrive with 63 on this connection: injected 1 hop from cli, after 7.0 s idle (sequence number exact).",
      'Cause: idle_timeout — A middlebox forgot the idle connection: after 7.0 s idle.',
      'The connection had lived through 1.0 s of silence before.',
      expect.stringMatching(/^Fix: Send keepalives/),
    ]);
  });

  it('a peer reset through NAT: the sender, the rule that matched, the translation', async () => {
    const rows = await causes(
      "(host = 'cli' AND local_port = 41020) OR (host = 'srv' AND local_port = 7020)",
    );
    const stories = flowStories(rows as unknown as CauseRow[]);
    expect(stories).toHaveLength(1);
    expect(stories[0]!.slice(0, 2)).toEqual([
      `10.1.0.2:41020 (cli) received a reset from 10.2.0.2:7020 at ${String(rows[1]!.ts)} UTC, in ESTABLISHED.`,
      '10.2.0.2:7020 (srv) sent it (TCP_STATE); the RST sequence numbers match. It saw the other end as 10.2.0.1:62020: address translation in between.',
    ]);
  });
});

describe('the taxonomy and its documentation', () => {
  it('docs/diagnosis.md lists every cause with its title, and every known idle timeout', async () => {
    const doc = await readFile(join(repoRoot(), 'docs', 'diagnosis.md'), 'utf8');
    for (const cause of CAUSES) expect(doc).toContain(`| \`${cause.id}\` | ${cause.title} |`);
    for (const t of KNOWN_IDLE_TIMEOUTS) expect(doc).toContain(`| ${t.name} | ${t.seconds} |`);
  });
});
