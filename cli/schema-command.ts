// `rstscope schema`: the DDL the collector applies, for operators who create the
// tables themselves — above all the cluster layout (ReplicatedMergeTree + Distributed,
// ON CLUSTER), which the collector does not create on its own.
import { parseArgs } from 'node:util';
import { CollectorConfigError } from '../collector/errors.js';
import { DIAGNOSIS_VIEWS, viewDdl } from '../collector/diagnosis/views.js';
import { clusterDdl, quoteIdentifier, singleNodeTableDdl } from '../collector/storage/ddl.js';
import { DEFAULT_DATABASE, DEFAULT_RETENTION_DAYS } from '../collector/storage/open-storage.js';
import { TABLES } from '../collector/storage/tables.js';

export const SCHEMA_USAGE = `usage: rstscope schema [--cluster NAME] [--database DB] [--retention-days N]

Prints the CREATE TABLE statements of rstscope's tables (resets, agents), generated
from the same definitions the collector migrates with.
  --cluster NAME      the cluster variant: *_local tables on Replicated engines and
                      Distributed tables under the user-facing names, ON CLUSTER NAME
  --database DB       the database (default ${DEFAULT_DATABASE})
  --retention-days N  TTL of the rows (default ${DEFAULT_RETENTION_DAYS})`;

export function runSchemaCommand(argv: string[]): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        cluster: { type: 'string' },
        database: { type: 'string', default: DEFAULT_DATABASE },
        'retention-days': { type: 'string', default: String(DEFAULT_RETENTION_DAYS) },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new CollectorConfigError(`${(err as Error).message}; see 'rstscope schema --help'`);
  }
  const days = Number(values['retention-days']);
  if (!Number.isInteger(days) || days < 1) {
    throw new CollectorConfigError(
      `--retention-days ${values['retention-days']}: expected 1 or more`,
    );
  }
  const statements = values.cluster
    ? clusterDdl(values.cluster, values.database, days)
    : TABLES.map((table) => singleNodeTableDdl(table, days));
  // The diagnosis views read the tables by name, in the current database: on a
  // cluster the Distributed tables, so every node sees every host's resets.
  if (values.cluster) statements.push(`USE ${quoteIdentifier(values.database)}`);
  const onCluster = values.cluster ? ` ON CLUSTER ${quoteIdentifier(values.cluster)}` : '';
  statements.push(...DIAGNOSIS_VIEWS.map((view) => viewDdl(view, onCluster)));
  console.log(statements.map((s) => `${s};`).join('\n\n'));
  return 0;
}
