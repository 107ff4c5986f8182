// What the diagnosis costs at query time, as the issue words it: "top causes
// over a day" and "explain of one flow" over N stored resets, through the
// Query API (gRPC on loopback, the handlers and SQL the CLI gets), each the
// median of --runs. The resets are synthetic matched pairs (a server's
// SO_LINGER abort and its client's received RST, 50 client and 50 server
// hosts, each with its own address) spread over the last day, written by
// ClickHouse itself (INSERT … SELECT FROM numbers()) so 10M take seconds.
// Before the queries, the diagnoser's passes store the diagnoses of all but
// the last minute (--settle-ms; as a collector that has run all day would
// have), and the time they took is printed; --live skips them: every query
// diagnoses live.
// --views also times the live views over everything, as SQL.
// Run on purpose: node dist/bench/diagnosis-views.js --resets 10000000
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { QueryClient } from '../cli/query-client.js';
import { DEFAULT_SETTLE_MS, diagnosePass } from '../collector/diagnosis/diagnoser.js';
import { startQueryServer } from '../collector/query/index.js';
import type { Storage } from '../collector/storage/storage.js';
import { openEmbeddedStorage } from '../test/lab/embedded-storage.js';
import { median } from './median.js';

const { values } = parseArgs({
  options: {
    resets: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '3' },
    views: { type: 'boolean', default: false },
    live: { type: 'boolean', default: false },
    'settle-ms': { type: 'string', default: String(DEFAULT_SETTLE_MS) },
  },
});
const resets = Number(values.resets);
const runs = Number(values.runs);
const settleMs = Number(values['settle-ms']);

const DAY_MS = 86_400_000;
const HOSTS = 50;
/** Rows one INSERT writes: bounds the engine's memory at 10M. */
const CHUNK_PAIRS = 500_000;

/**
 * Pair i: server s<i%50> (10.2.0.<i%50>:80) aborts, client c<i%50>
 * (10.1.0.<i%50>:1024+i%60000) receives the same numbers 1 ms later.
 */
async function insertPairs(storage: Storage, pairs: number, nowMs: number): Promise<void> {
  const h = (k: number) => `cityHash64(number, ${k}) % 4294967295`;
  const side = (sent: string, received: string) => `if(d = 'sent', ${sent}, ${received})`;
  const hostIndex = `toString(number % ${HOSTS})`;
  const addr = (net: number) => `toIPv6(concat('10.${net}.0.', ${hostIndex}))`;
  const clientPort = '1024 + number % 60000';
  for (let offset = 0; offset < pairs; offset += CHUNK_PAIRS) {
    const count = Math.min(CHUNK_PAIRS, pairs - offset);
    await storage.command(`
      INSERT INTO resets (ts, host, boot_id, direction, reason, accepted, state, prev_state, family,
        local_addr, local_port, remote_addr, remote_port, netns, sock_cookie, pid_source, linger_on,
        linger_s, isn_local, isn_remote, snd_nxt, rcv_nxt, rst_seq, rst_ack, rst_ttl, peer_ttl,
        last_recv_ms, batch_id, batch_index)
      SELECT fromUnixTimestamp64Milli(toInt64(${nowMs} - intDiv(number * ${DAY_MS}, ${pairs})
                                              + (d = 'received'))),
        concat(${side("'s'", "'c'")}, ${hostIndex}), 'b', d,
        ${side("'TCP_STATE'", "'UNKNOWN'")}, true, 'CLOSE', 'ESTABLISHED', 'ipv4',
        ${side(addr(2), addr(1))}, ${side('80', clientPort)},
        ${side(addr(1), addr(2))}, ${side(clientPort, '80')},
        1, 1, 'context', true, 0, ${side(h(1), h(2))}, ${side(h(2), h(1))}, ${h(3)}, ${h(4)},
        ${side('NULL', h(3))}, ${side('NULL', h(4))}, ${side('NULL', '63')}, 63, 100,
        concat('h/b/1/', toString(number)), ${side('0', '1')}
      FROM numbers(${offset}, ${count}) ARRAY JOIN ['sent', 'received'] AS d`);
  }
}

async function timed(label: string, run: () => Promise<unknown>): Promise<void> {
  const ms: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      await run();
      ms.push(performance.now() - start);
    }
  } catch (err) {
    // A query the API refuses (its memory limit) is a figure too: say which and why.
    console.log(`${label.padEnd(22)} failed: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  console.log(`${label.padEnd(22)} ${(median(ms) / 1000).toFixed(2)} s`);
}

const dir = mkdtempSync(join(tmpdir(), 'rstscope-views-'));
const storage = await openEmbeddedStorage(join(dir, 'data'), { migrate: false });
const log = pino({ level: 'warn' });
try {
  await storage.migrate();
  const nowMs = Date.now();
  const pairs = Math.floor(resets / 2);
  const insertStart = performance.now();
  await insertPairs(storage, pairs, nowMs);
  const insertS = (performance.now() - insertStart) / 1000;
  const hour = 3_600_000;
  let diagnoseS = 0;
  let passes = 0;
  if (!values.live) {
    const diagnoseStart = performance.now();
    for (;;) {
      const pass = await diagnosePass(storage, settleMs);
      passes++;
      if (pass.caughtUp) break;
    }
    diagnoseS = (performance.now() - diagnoseStart) / 1000;
  }
  const server = await startQueryServer({
    listen: '127.0.0.1:0',
    storage,
    log,
    limits: { defaultTimeoutMs: 600_000, maxTimeoutMs: 600_000 },
  });
  const client = new QueryClient(server.address);
  try {
    console.log(
      `diagnosis over ${resets} resets (${insertS.toFixed(1)} s to write, ` +
        (values.live
          ? 'none stored: all live); '
          : `${diagnoseS.toFixed(1)} s to store the diagnoses of all but the last ` +
            `${settleMs / 1000} s in ${passes} passes); `) +
        `kernel ${release()}, ` +
        `${cpus().length} cores, Node ${process.version}, ${storage.backend}; median of ${runs}; ` +
        `load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
    const day = {
      from_unix_ns: String(BigInt(nowMs - DAY_MS - hour) * 1_000_000n),
      to_unix_ns: String(BigInt(nowMs + hour) * 1_000_000n),
    };
    await timed('top causes over a day', () => client.topCauses({ filter: day }));
    // A pair from the middle of the day: client c7's port and server s7.
    const i = Math.floor(pairs / 2 / HOSTS) * HOSTS + 7;
    const flow = [`10.1.0.7:${1024 + (i % 60000)}`, '10.2.0.7:80'];
    await timed('explain one flow', async () => {
      const answer = await client.explainFlow({ endpoints: flow, ...day });
      if (answer.stories.length === 0) throw new Error(`no story for ${flow.join(' ↔ ')}`);
    });
    if (values.views) {
      const sql: [string, string][] = [
        ['view: top causes', 'SELECT cause, origin, count() FROM reset_causes GROUP BY ALL'],
        [
          'view: one port',
          'SELECT * FROM reset_causes WHERE local_port = 5000 OR remote_port = 5000',
        ],
        ['view: middleboxes', 'SELECT * FROM middleboxes'],
      ];
      for (const [label, text] of sql) await timed(label, () => storage.query(text));
    }
  } finally {
    client.close();
    await server.shutdown();
  }
} finally {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
}
