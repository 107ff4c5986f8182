// The storage layer on a ClickHouse server through @clickhouse/client: the
// server at CLICKHOUSE_URL (user and password from CLICKHOUSE_USER and
// CLICKHOUSE_PASSWORD), else one started with testcontainers when a Docker
// engine answers. Neither: the suite says so in its name and is skipped.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roleNames } from '../collector/storage/clickhouse-roles.js';
import { rolesSql } from '../collector/storage/clickhouse-roles-sql.js';
import { migrateOnly, openCollectorStorage } from '../collector/storage/collector-storage.js';
import { StorageError } from '../collector/storage/errors.js';
import { LATEST_VERSION } from '../collector/storage/migrations.js';
import { DEFAULT_RETENTION_DAYS, openStorage } from '../collector/storage/open-storage.js';
import type { Storage, StorageOptions } from '../collector/storage/storage.js';
import { storageBehaviour } from './storage-behaviour.js';

// The server image testcontainers starts; any recent release takes the schema.
const IMAGE = 'clickhouse/clickhouse-server:25.8';

function dockerAnswers(): boolean {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const givenUrl = process.env.CLICKHOUSE_URL;
const docker = !givenUrl && dockerAnswers();
const skipped = !givenUrl && !docker ? ' (skipped: no CLICKHOUSE_URL and no Docker engine)' : '';
// vitest's default reporter lists a skipped suite only as a count: say why here too.
if (skipped) console.warn(`ClickHouse server storage${skipped}`);

describe.skipIf(skipped !== '')(`ClickHouse server storage${skipped}`, () => {
  // A database of its own per run, dropped at the end: the server may be shared.
  const database = `rstscope_test_${randomBytes(4).toString('hex')}`;
  let server: Pick<StorageOptions, 'user' | 'password'> & { url: string };
  let stop = async (): Promise<void> => {};
  let storage: Storage | undefined;

  const open = async (retentionDays: number) => {
    await storage?.close();
    storage = undefined;
    storage = await openStorage({ ...server, database, dataDir: '', retentionDays });
    return storage;
  };

  beforeAll(async () => {
    if (givenUrl) {
      server = {
        url: givenUrl,
        user: process.env.CLICKHOUSE_USER ?? 'default',
        password: process.env.CLICKHOUSE_PASSWORD ?? '',
      };
    } else {
      const { ClickHouseContainer } = await import('@testcontainers/clickhouse');
      const container = await new ClickHouseContainer(IMAGE).start();
      stop = async () => void (await container.stop());
      server = {
        url: container.getHttpUrl(),
        user: container.getUsername(),
        password: container.getPassword(),
      };
    }
    await open(DEFAULT_RETENTION_DAYS);
  }, 300_000);

  afterAll(async () => {
    try {
      await storage?.command(`DROP DATABASE IF EXISTS ${database}`);
      await storage?.close();
    } finally {
      await stop();
    }
  }, 120_000);

  it('says where the data lives', () => {
    expect(storage).toMatchObject({ backend: 'clickhouse' });
    expect(storage?.location).not.toMatch(/:[^/@]*@/);
  });

  it('runs with roles: the owner migrates, the collector writes as the writer and answers queries as the reader', async () => {
    const admin = await open(DEFAULT_RETENTION_DAYS);
    const names = roleNames(database);
    const secret = (who: string) => `${who}-${randomBytes(8).toString('hex')}`;
    const passwords = { migrator: secret('m'), collector: secret('c'), api: secret('a') };
    const { statements } = rolesSql(database, passwords);
    const as = (user: string, password: string): StorageOptions => ({
      ...server,
      user,
      password,
      database,
      dataDir: '',
      retentionDays: DEFAULT_RETENTION_DAYS,
    });
    try {
      for (const statement of statements) await admin.command(statement);
      const owner = await migrateOnly(as(names.users.migrator, passwords.migrator));
      expect(owner.current).toBe(LATEST_VERSION);
      const stores = await openCollectorStorage(as(names.users.collector, passwords.collector), {
        user: names.users.api,
        password: passwords.api,
      });
      try {
        expect(stores.schema).toEqual({ applied: [], current: LATEST_VERSION, migrated: false });
        const whoami = 'SELECT currentUser() AS user';
        expect(await stores.writer.query(whoami)).toEqual([{ user: names.users.collector }]);
        expect(await stores.reader.query(whoami)).toEqual([{ user: names.users.api }]);
        await stores.writer.insert('addresses', [
          {
            kind: 'inventory',
            range_start: '::ffff:10.0.0.1',
            range_end: '::ffff:10.0.0.1',
            name: 'gw',
          },
        ]);
        await expect(stores.writer.query('SELECT name FROM addresses')).rejects.toMatchObject({
          type: 'ACCESS_DENIED',
        });
        await expect(stores.writer.migrate()).rejects.toMatchObject({ type: 'ACCESS_DENIED' });
        await expect(stores.reader.insert('addresses', [{ name: 'x' }])).rejects.toMatchObject({
          type: expect.stringMatching(/ACCESS_DENIED|READONLY/),
        });
        const answer = await stores.reader.readOnlyQuery({
          sql: 'SELECT count() AS n FROM addresses',
          params: {},
          maxRows: 10,
          timeoutMs: 5_000,
        });
        expect(answer.rows).toEqual(['{"n":"1"}']);
      } finally {
        await stores.close();
      }
    } finally {
      for (const user of Object.values(names.users))
        await admin.command(`DROP USER IF EXISTS ${user}`);
      for (const role of Object.values(names.roles))
        await admin.command(`DROP ROLE IF EXISTS ${role}`);
      for (const profile of Object.values(names.profiles)) {
        await admin.command(`DROP SETTINGS PROFILE IF EXISTS ${profile}`);
      }
    }
  });

  storageBehaviour({
    open,
    storage: () => {
      if (!storage) throw new Error('storage not open');
      return storage;
    },
  });
});

describe('ClickHouse server storage that cannot connect', () => {
  const options = (url: string, tls?: StorageOptions['tls']): StorageOptions => ({
    url,
    tls,
    user: 'default',
    password: 'secret-password',
    database: 'rstscope',
    dataDir: '',
    retentionDays: 14,
  });

  /** A local port nothing listens on. */
  const closedPort = async (): Promise<number> => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    return port;
  };

  it('names the URL and the fix in one line, without the password', async () => {
    const port = await closedPort();
    const err = await openStorage(
      options(`http://default:secret-password@127.0.0.1:${port}`),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    const message = (err as Error).message;
    expect(message).toMatch(
      new RegExp(
        `^cannot reach ClickHouse at http://default:\\*\\*\\*@127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*\\): check the URL`,
      ),
    );
    expect(message).not.toContain('\n');
    expect(message).not.toContain('secret-password');
  });

  it('names a TLS file it cannot read', async () => {
    await expect(
      openStorage(options('https://127.0.0.1:8443', { caFile: '/nonexistent/ca.pem' })),
    ).rejects.toThrow(/^cannot read the TLS CA file \/nonexistent\/ca\.pem: ENOENT/);
  });
});
