// The storage layer on embedded ClickHouse (chDB), in a fresh data directory.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '../collector/storage/errors.js';
import {
  DEFAULT_DATABASE,
  DEFAULT_PASSWORD,
  DEFAULT_RETENTION_DAYS,
  DEFAULT_USER,
  openStorage,
} from '../collector/storage/open-storage.js';
import { parseExplainAst, refusalReason } from '../collector/storage/query-guard.js';
import type { Storage } from '../collector/storage/storage.js';
import { TABLES } from '../collector/storage/tables.js';
import { storageBehaviour } from './storage-behaviour.js';

describe('chDB storage', () => {
  let dir = '';
  let storage: Storage | undefined;
  const open = async (retentionDays: number) => {
    // chDB runs one engine per process: close before opening again.
    await storage?.close();
    storage = undefined;
    storage = await openStorage({
      dataDir: join(dir, 'data'),
      database: DEFAULT_DATABASE,
      user: DEFAULT_USER,
      password: DEFAULT_PASSWORD,
      retentionDays,
    });
    return storage;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rstscope-storage-'));
    await open(DEFAULT_RETENTION_DAYS);
  });

  afterAll(async () => {
    await storage?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('says where the data lives', () => {
    expect(storage).toMatchObject({ backend: 'chdb', location: join(dir, 'data') });
  });

  storageBehaviour({
    open,
    storage: () => {
      if (!storage) throw new Error('storage not open');
      return storage;
    },
  });

  it('inserts 10k rows in one call', async () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => ({
      ts: `2026-05-01T13:00:00.${String(i).padStart(9, '0')}Z`,
      host: `node-${i % 7}`,
      remote_addr: `10.1.${i >> 8}.${i & 255}`,
      batch_id: 'bulk/boot/1/1',
      batch_index: i,
    }));
    await storage!.insert('resets', rows);
    const [row] = await storage!.query<{ n: string }>(
      "SELECT count() AS n FROM resets WHERE batch_id = 'bulk/boot/1/1'",
    );
    expect(row?.n).toBe('10000');
  });
});

describe('chDB storage that cannot open', () => {
  it('names the data directory in one line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rstscope-storage-'));
    try {
      const file = join(dir, 'not-a-directory');
      await writeFile(file, '');
      const err = await openStorage({
        dataDir: join(file, 'data'),
        database: DEFAULT_DATABASE,
        user: DEFAULT_USER,
        password: '',
        retentionDays: 14,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as Error).message).toMatch(
        /^cannot create the chDB data directory .*not-a-directory/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a database name that is not an identifier', async () => {
    await expect(
      openStorage({
        dataDir: join(tmpdir(), 'unused'),
        database: 'rst; DROP',
        user: DEFAULT_USER,
        password: '',
        retentionDays: 14,
      }),
    ).rejects.toThrow(/"rst; DROP": expected letters, digits and _ only/);
  });
});

describe('query guard', () => {
  const ast = (text: string) => refusalReason(parseExplainAst(text));

  it('reads EXPLAIN AST into a tree and allows a plain SELECT', () => {
    const text = [
      'SelectWithUnionQuery (children 1)',
      ' ExpressionList (children 1)',
      '  SelectQuery (children 2)',
      '   ExpressionList (children 1)',
      '    Asterisk',
      '   TablesInSelectQuery (children 1)',
      '    TablesInSelectQueryElement (children 1)',
      '     TableExpression (children 1)',
      '      Function numbers (alias n) (children 1)',
      '       ExpressionList (children 1)',
      '        Literal UInt64_3',
    ].join('\n');
    const [root] = parseExplainAst(text);
    expect(root?.kind).toBe('SelectWithUnionQuery');
    expect(root?.children[0]?.children[0]?.children).toHaveLength(2);
    expect(ast(text)).toBeUndefined();
    expect(ast(text.replace('numbers', 's3'))).toMatch(/table function s3\(\)/);
  });

  it('refuses more than one statement', () => {
    expect(ast('SelectWithUnionQuery\nSelectWithUnionQuery')).toMatch(/exactly one statement/);
  });
});

describe('docs/storage.md', () => {
  it('documents every column with its type', async () => {
    const docs = await readFile(new URL('../docs/storage.md', import.meta.url), 'utf8');
    for (const table of TABLES) {
      const section = docs.split(`## Table \`${table.name}\``)[1]?.split('\n## ')[0] ?? '';
      for (const { name, type } of table.columns) {
        const cell = (text: string) => `\\|\\s*\`${text.replace(/[()[\]]/g, '\\$&')}\`\\s*`;
        expect(section, `${table.name}.${name}`).toMatch(new RegExp(cell(name) + cell(type)));
      }
    }
  });
});
