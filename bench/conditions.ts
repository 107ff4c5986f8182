// The conditions a benchmark ran under, for the head of its table: figures from
// another kernel, core count or tool version are not the same figures.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus, loadavg, release, totalmem } from 'node:os';

/** First line a command prints (stdout or stderr), or why there is none. */
function firstLine(argv: string[], pattern = /\S/): string {
  try {
    const out = execFileSync(argv[0]!, argv.slice(1), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return (
      out
        .split('\n')
        .find((l) => pattern.test(l))
        ?.trim() ?? '?'
    );
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    const text = `${e.stdout ?? ''}\n${e.stderr ?? ''}`;
    return (
      text
        .split('\n')
        .find((l) => pattern.test(l))
        ?.trim() ?? 'not installed'
    );
  }
}

function debianVersion(pkg: string): string {
  return firstLine(['dpkg-query', '-W', '-f=${Version}\n', pkg]);
}

/** The chDB package and the ClickHouse engine inside it. */
function chdbVersion(): string {
  const require = createRequire(import.meta.url);
  try {
    const pkg = require('chdb/package.json') as { version: string };
    const chdb = require('chdb') as { query(sql: string, format: string): string };
    return `chDB ${pkg.version} (ClickHouse ${chdb.query('SELECT version()', 'TSV').trim()})`;
  } catch (err) {
    return `chDB not loadable: ${(err as Error).message}`;
  }
}

export function conditions(): string[] {
  const cpu = cpus();
  return [
    `date ${new Date().toISOString()}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (1, 5, 15 min) at the start`,
    `kernel ${release()}, ${cpu.length} cores (${cpu[0]?.model.trim() ?? '?'}), ` +
      `${(totalmem() / 1024 ** 3).toFixed(1)} GiB memory`,
    `Node ${process.version}, ${firstLine(['nats-server', '--version'])}, ${chdbVersion()}`,
    `bpftrace ${debianVersion('bpftrace')}, tcpdump ${debianVersion('tcpdump')}, ` +
      `hping3 ${debianVersion('hping3')}, iperf3 ${debianVersion('iperf3')}`,
  ];
}
