// The diagnosis views, in dependency order, and their installation. Views hold
// no data, so they are not migrations: every start replaces them with the
// definitions of the running version.
import { quoteString } from '../storage/ddl.js';
import { AGENT_COVERAGE_VIEW } from './coverage-view.js';
import { RESET_CAUSES_VIEW } from './cause-view.js';
import { RESET_EVIDENCE_VIEW } from './evidence-view.js';
import { RESET_PAIRS_VIEW } from './flow-matching.js';
import { FLOWS_VIEW, INJECTED_RESETS_VIEW } from './flow-views.js';
import { MIDDLEBOXES_VIEW } from './middlebox-view.js';
import { DIAGNOSES_DDL, DIAGNOSES_PREFIX, DIAGNOSES_TABLE } from './stored-diagnoses.js';

export interface ViewDefinition {
  name: string;
  comment: string;
  select: string;
}

export const DIAGNOSIS_VIEWS: readonly ViewDefinition[] = [
  {
    name: 'reset_evidence',
    comment: 'Each reset with what its own row tells: hop distances, idle period, matching keys',
    select: RESET_EVIDENCE_VIEW,
  },
  {
    name: 'agent_coverage',
    comment: 'Which host watched which address, from when to when (from heartbeats)',
    select: AGENT_COVERAGE_VIEW,
  },
  {
    name: 'reset_pairs',
    comment: 'Received resets matched to the sent reset at the other end of the flow',
    select: RESET_PAIRS_VIEW,
  },
  {
    name: 'reset_causes',
    comment: 'One row per reset: origin, cause and evidence',
    select: RESET_CAUSES_VIEW,
  },
  { name: 'flows', comment: 'Both ends of each reset flow side by side', select: FLOWS_VIEW },
  {
    name: 'injected_resets',
    comment: 'Resets no endpoint stack sent',
    select: INJECTED_RESETS_VIEW,
  },
  {
    name: 'middleboxes',
    comment: 'Injected resets grouped by path: middlebox fingerprints',
    select: MIDDLEBOXES_VIEW,
  },
];

/**
 * CREATE OR REPLACE VIEW for one definition. The SELECTs name tables without a
 * database: they resolve in the current one, where the tables are.
 */
export function viewDdl(view: ViewDefinition, onCluster = ''): string {
  return `CREATE OR REPLACE VIEW ${view.name}${onCluster} AS ${view.select.trim()}\nCOMMENT ${quoteString(view.comment)}`;
}

export interface CommandRunner {
  command(sql: string): Promise<void>;
  query<T>(sql: string): Promise<T[]>;
}

/**
 * Replaces every diagnosis view and creates this version's stored diagnoses,
 * dropping those of other versions (a cache: the diagnoser refills it);
 * idempotent, and safe for collectors starting at once.
 */
export async function installDiagnosisViews(runner: CommandRunner): Promise<void> {
  for (const view of DIAGNOSIS_VIEWS) await runner.command(viewDdl(view));
  for (const statement of DIAGNOSES_DDL) await runner.command(statement);
  const stale = await runner.query<{ name: string }>(
    `SELECT name FROM system.tables WHERE database = currentDatabase()
       AND startsWith(name, ${quoteString(DIAGNOSES_PREFIX)})
       AND NOT startsWith(name, ${quoteString(DIAGNOSES_TABLE)})`,
  );
  for (const { name } of stale) await runner.command(`DROP TABLE IF EXISTS ${name}`);
}
