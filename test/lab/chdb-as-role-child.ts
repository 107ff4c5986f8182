// Child process of runAsRole (chdb-role-config.ts): opens chDB with a role's
// config and runs the steps it is given through rstscope's own code (migrate,
// checkSchema, readOnlyQuery, storedEventKeys) or as plain SQL, printing one
// JSON array of outcomes. Runs from dist/ (npx tsc -p tsconfig.json).
import { Session } from 'chdb';
import { engineErrorLine } from '../../collector/storage/errors.js';
import { storedEventKeys } from '../../collector/ingest/stored-events.js';
import { assertReadOnlyUser } from '../../collector/storage/read-only-user.js';
import { migrate } from '../../collector/storage/migrations.js';
import { readOnlyQuery } from '../../collector/storage/read-only-query.js';
import { checkSchema } from '../../collector/storage/schema-check.js';
import type { SqlRunner } from '../../collector/storage/sql-runner.js';
import type { Storage } from '../../collector/storage/storage.js';
import type { RoleJob, RoleOutcome } from './chdb-role-config.js';

class SessionRunner implements SqlRunner {
  constructor(private readonly session: Session) {}
  async command(sql: string, params: Record<string, unknown> = {}): Promise<void> {
    await this.text(sql, params, 'TSV');
  }
  async query<T>(sql: string, params: Record<string, unknown> = {}): Promise<T[]> {
    return (await this.text(sql, params, 'JSONEachRow'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as T);
  }
  queryText(sql: string, params: Record<string, unknown>, options: { format: string }) {
    return this.text(sql, params, options.format);
  }
  private async text(sql: string, params: Record<string, unknown>, format: string) {
    const answer = Object.keys(params).length
      ? await this.session.queryBindAsync(sql, params, { format })
      : await this.session.queryAsync(sql, { format });
    return answer.text();
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as RoleJob;
  const session = new Session(job.dataDir, {
    connectionArgs: [
      `--config-file=${job.configFile}`,
      '--output_format_json_quote_64bit_integers=1',
    ],
  });
  const runner = new SessionRunner(session);
  const db = `\`${job.database}\``;
  if (job.createDatabase) await runner.command(`CREATE DATABASE IF NOT EXISTS ${db}`);
  await runner.command(`USE ${db}`);
  const storage = { query: runner.query.bind(runner) } as unknown as Storage;
  const outcomes: RoleOutcome[] = [];
  for (const step of job.steps) {
    try {
      let value: unknown;
      switch (step.do) {
        case 'sql':
          value = await runner.queryText(step.sql, step.params ?? {}, { format: 'TSV' });
          break;
        case 'migrate':
          value = await migrate(runner, 14);
          break;
        case 'checkSchema':
          value = await checkSchema(storage, { database: job.database, user: 'default' });
          break;
        case 'readOnlyQuery':
          value = await readOnlyQuery(runner, step.request, step.options);
          break;
        case 'storedEventKeys':
          value = [...(await storedEventKeys(storage, step.batches))];
          break;
        case 'assertReadOnlyUser':
          value = await assertReadOnlyUser(storage, 'this-role');
          break;
      }
      outcomes.push({ ok: true, value });
    } catch (err) {
      const { line, type } = engineErrorLine(err);
      outcomes.push({ ok: false, error: line, type });
    }
  }
  session.close();
  process.stdout.write(JSON.stringify(outcomes));
}

await main();
