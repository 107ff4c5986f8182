// What the diagnosis views cost at query time: N synthetic matched resets (a
// server's SO_LINGER abort and the client's received RST, 50 hosts each side)
// in embedded ClickHouse, then top causes, one flow and the middleboxes, each
// the median of --runs. Run on purpose: node dist/bench/diagnosis-views.js --resets 1000000
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openEmbeddedStorage } from '../test/lab/embedded-storage.js';
import { median } from './median.js';

const { values } = parseArgs({
  options: {
    resets: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '3' },
  },
});
const resets = Number(values.resets);
const runs = Number(values.runs);

const dir = mkdtempSync(join(tmpdir(), 'rstscope-views-'));
const storage = await openEmbeddedStorage(join(dir, 'data'), { migrate: false });
try {
  await storage.migrate();
  // Pair i: srv sends (active reset: seq, ack = its snd_nxt, rcv_nxt), cli receives the same numbers.
  const h = (k: number) => `cityHash64(number, ${k}) % 4294967295`;
  const side = (sent: string, received: string) => `if(d = 'sent', ${sent}, ${received})`;
  await storage.command(`
    INSERT INTO resets (ts, host, boot_id, direction, reason, accepted, state, prev_state, family,
      local_addr, local_port, remote_addr, remote_port, netns, sock_cookie, pid_source, linger_on,
      linger_s, isn_local, isn_remote, snd_nxt, rcv_nxt, rst_seq, rst_ack, rst_ttl, peer_ttl,
      last_recv_ms, batch_id, batch_index)
    SELECT now64(9) - toIntervalMillisecond(number * 10 + (d = 'received')),
      concat(${side("'s'", "'c'")}, toString(number % 50)), 'b', d,
      ${side("'TCP_STATE'", "'UNKNOWN'")}, true, 'CLOSE', 'ESTABLISHED', 'ipv4',
      toIPv6(${side("'10.2.0.2'", "'10.1.0.2'")}), ${side('80', '1024 + number % 60000')},
      toIPv6(${side("'10.1.0.2'", "'10.2.0.2'")}), ${side('1024 + number % 60000', '80')},
      1, 1, 'context', true, 0, ${side(h(1), h(2))}, ${side(h(2), h(1))}, ${h(3)}, ${h(4)},
      ${side('NULL', h(3))}, ${side('NULL', h(4))}, ${side('NULL', '63')}, 63, 100,
      concat('h/b/1/', toString(number)), ${side('0', '1')}
    FROM numbers(${Math.floor(resets / 2)}) ARRAY JOIN ['sent', 'received'] AS d`);

  const queries: [string, string][] = [
    ['top causes', 'SELECT cause, origin, count() FROM reset_causes GROUP BY ALL'],
    ['one flow', 'SELECT * FROM reset_causes WHERE local_port = 5000 OR remote_port = 5000'],
    ['middleboxes', 'SELECT * FROM middleboxes'],
  ];
  console.log(
    `diagnosis views over ${resets} resets; kernel ${release()}, ${cpus().length} cores, ` +
      `Node ${process.version}, ${storage.backend}; median of ${runs}`,
  );
  for (const [label, sql] of queries) {
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      await storage.query(sql);
      ms.push(performance.now() - start);
    }
    console.log(`${label.padEnd(12)} ${(median(ms) / 1000).toFixed(2)} s`);
  }
} finally {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
}
