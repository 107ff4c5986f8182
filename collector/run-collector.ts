// `rstscope collector`: config → storage (migrated) → NATS intake → naming
// (Kubernetes, inventory) → ingester → live reset feed → query service; on SIGINT/SIGTERM stop pulling, insert and ack
// what is pending, end the watches, close everything.
import { pino } from 'pino';
import { DEFAULT_STREAM_LIMITS } from '../proto/nats-topology.js';
import { collectorStatusProvider } from './collector-status.js';
import { startDiagnoser } from './diagnosis/diagnoser-task.js';
import type { CollectorConfig } from './config.js';
import { Ingester } from './ingest/ingester.js';
import { startCollectorNaming } from './k8s/collector-naming.js';
import { NatsIntake } from './nats-intake.js';
import { NatsResetFeed } from './query/nats-reset-feed.js';
import { startQueryServer } from './query/query-server.js';
import { loadQuerySecurity } from './query/server-security.js';
import { migrateOnly, openCollectorStorage } from './storage/collector-storage.js';

const STATS_EVERY_MS = 60_000;

export async function runCollector(config: CollectorConfig): Promise<number> {
  const log = pino({ name: 'rstscope-collector' }, pino.destination(2));
  // Certificate, key and token files first: a bad one must stop startup before anything opens.
  const security = loadQuerySecurity(config.querySecurity, config.listen, log);
  if (config.roles.migrateOnly) {
    const { applied, current, location } = await migrateOnly(config.storage);
    log.info({ applied, schema_version: current }, `schema ready: ${location}`);
    return 0;
  }
  // With a query user, `storage` is the writer and `stores.reader` answers queries.
  const stores = await openCollectorStorage(config.storage, config.roles.queryUser);
  const storage = stores.writer;
  const cleanups: (() => Promise<void>)[] = [() => stores.close()];
  try {
    const { applied, current, migrated } = stores.schema;
    log.info({ applied, schema_version: current, migrated }, `storage ready: ${storage.location}`);
    // Diagnoses stored ahead keep queries over millions of resets under a
    // second (docs/diagnosis.md). Only on embedded chDB, where this collector
    // is the only writer: collectors sharing a ClickHouse server would each
    // rewrite the same spans, so there every query diagnoses live.
    if (storage.backend === 'chdb') {
      const diagnoser = startDiagnoser(storage, log);
      cleanups.unshift(() => diagnoser.stop());
    }

    const intake = new NatsIntake({
      servers: config.nats,
      durable: config.durable,
      ackWaitMs: config.ackWaitMs,
      streamLimits: DEFAULT_STREAM_LIMITS,
      auth: config.natsAuth,
      log,
    });
    cleanups.unshift(() => intake.close());
    await intake.open();
    const naming = startCollectorNaming({
      kube: config.kube,
      inventory: config.inventory,
      storage,
      log,
    });
    cleanups.unshift(() => naming.stop());
    const ingester = new Ingester(
      storage,
      intake,
      config.ingest,
      config.maxMessageBytes,
      log,
      naming.nameEnds,
    );
    const resetFeed = await NatsResetFeed.open({
      servers: config.nats,
      auth: config.natsAuth,
      log,
    });
    cleanups.unshift(() => resetFeed.close());
    const server = await startQueryServer({
      listen: config.listen,
      storage: stores.reader,
      log,
      ...security,
      resetFeed,
      flowEnds: naming.nameEnds,
      collectorStatus: collectorStatusProvider({
        storage: `${storage.backend} ${storage.location}`,
        backlog: () => intake.backlog(),
        counters: ingester.counters,
        store: () => ingester.storeState(),
      }),
    });
    cleanups.unshift(() => server.shutdown());
    const { failed } = await intake.start(ingester);
    log.info(
      { nats: config.nats, durable: config.durable, query: server.address },
      `collector ready: consuming ${config.nats.join(',')}, storing in ${storage.location}, queries on ${server.address}`,
    );
    const stats = setInterval(() => log.info(ingester.counters, 'ingest counters'), STATS_EVERY_MS);

    const failure = await Promise.race([signalled().then(() => undefined), failed]);
    if (failure) log.error({ err: failure }, `stopping: ${failure.message}`);
    clearInterval(stats);
    server.setServing(false);
    // Stop pulling first, then insert and ack what was pulled: nothing is left unacked
    // that could have been stored.
    // First: during a store outage the intake waits in add() for room.
    ingester.stopTaking();
    await intake.stop();
    await ingester.close();
    log.info(ingester.counters, 'collector stopped');
    return failure ? 1 : 0;
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  }
}

function signalled(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
