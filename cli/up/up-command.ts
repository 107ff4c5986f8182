// `rstscope up`: nats-server (JetStream), collector (embedded ClickHouse) and agent
// on this host, as supervised child processes with their logs under the data
// directory. Stopped in data-flow order — agent, collector, NATS — so the agent's
// last batches are stored before anything they need goes away.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_QUERY_ADDRESS } from '../../collector/query/query-limits.js';
import { ChildService } from './child-service.js';
import { loadUpConfig } from './up-config.js';

const CLI_MAIN = fileURLToPath(new URL('../main.js', import.meta.url));
/** chDB's first start and BPF loading take seconds on a small VM; a minute means broken. */
const READY_TIMEOUT_MS = 60_000;
/** SIGHUP too: closing the terminal must not leave the detached children running. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export async function runUpCommand(argv: string[]): Promise<number> {
  const config = loadUpConfig(argv);
  const logs = join(config.dataDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const services: ChildService[] = [];
  const stopAll = async () => {
    for (const service of [...services].reverse()) await service.stop();
  };
  // From the first moment: Ctrl-C during startup must stop what has started too.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  const stopped = new Promise<void>((resolve) =>
    stop.signal.addEventListener('abort', () => resolve()),
  );

  try {
    let natsUrl = config.nats.join(',');
    if (!natsUrl) {
      const { host, port } = config.natsListen;
      await assertNatsCanStart(host, port);
      natsUrl = `nats://${host}:${port}`;
      const store = join(config.dataDir, 'nats');
      mkdirSync(store, { recursive: true });
      const nats = ChildService.start(
        'nats-server',
        'nats-server',
        ['-js', '-sd', store, '-a', host, '-p', String(port)],
        join(logs, 'nats.log'),
      );
      services.push(nats);
      await nats.waitReady('Server is ready', READY_TIMEOUT_MS, stop.signal);
    }
    const collector = ChildService.start(
      'collector',
      process.execPath,
      [
        CLI_MAIN,
        'collector',
        '--nats',
        natsUrl,
        '--data-dir',
        config.dataDir,
        '--listen',
        config.listen,
        ...config.collectorArgs,
      ],
      join(logs, 'collector.log'),
    );
    services.push(collector);
    await collector.waitReady('collector ready', READY_TIMEOUT_MS, stop.signal);
    const agent = ChildService.start(
      'agent',
      process.execPath,
      [CLI_MAIN, 'agent', '--nats', natsUrl, ...config.agentArgs],
      join(logs, 'agent.log'),
    );
    services.push(agent);
    await agent.waitReady('capturing resets', READY_TIMEOUT_MS, stop.signal);

    const server = config.listen === DEFAULT_QUERY_ADDRESS ? '' : ` --server ${config.listen}`;
    console.log(`rstscope is up on ${hostname()}:
  NATS JetStream  ${natsUrl}${config.nats.length ? '' : `  (store ${join(config.dataDir, 'nats')})`}
  collector       ClickHouse (chDB) in ${join(config.dataDir, 'clickhouse')}; queries on ${config.listen}
  agent           ${config.agentArgs.includes('--netns') ? 'the namespaces given' : 'every network namespace'}
  logs            ${logs}/{${config.nats.length ? '' : 'nats,'}collector,agent}.log
Query:  rstscope sql${server} "SELECT ts, host, direction, reason, remote_addr, remote_port FROM resets ORDER BY ts DESC LIMIT 20"
Ctrl-C stops everything.`);

    const died = await Promise.race([
      stopped.then(() => undefined),
      ...services.map((s) => s.died.then(() => s)),
    ]);
    if (died) {
      console.error(
        `rstscope up: ${died.name} stopped unexpectedly: ${died.lastLine()} (see ${died.logFile})`,
      );
      return 1;
    }
    console.error('rstscope up: stopping the agent, the collector and NATS');
    return 0;
  } catch (error) {
    if (stop.signal.aborted) {
      console.error('rstscope up: stopped during startup');
      return 0;
    }
    const failed = services.find((s) => !s.running) ?? services[services.length - 1];
    const where = failed ? ` (see ${failed.logFile})` : '';
    console.error(`rstscope up: ${(error as Error).message}${where}`);
    return 1;
  } finally {
    await stopAll();
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
}

async function assertNatsCanStart(host: string, port: number): Promise<void> {
  if (spawnSync('nats-server', ['--version']).error) {
    throw new Error(
      'nats-server is not installed: run ./scripts/setup.sh (or apt install nats-server), or give --nats URL',
    );
  }
  if (await listening(host, port)) {
    throw new Error(
      `${host}:${port} is already in use (another nats-server?): use it with --nats nats://${host}:${port}, or pick --nats-listen HOST:PORT`,
    );
  }
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
