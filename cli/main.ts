// rstscope: one command for every role. Each verb wires its config and its
// component; errors become one line that says what is wrong and how to fix it.
import {
  AGENT_USAGE,
  AgentConfigError,
  LoaderStartError,
  loadAgentConfig,
  runAgent,
} from '../agent/index.js';
import {
  COLLECTOR_USAGE,
  CollectorConfigError,
  loadCollectorConfig,
  runCollector,
} from '../collector/index.js';
import { LAB_USAGE, runLabCommand } from './lab-command.js';
import { CLICKHOUSE_ROLES_USAGE, runClickhouseRolesCommand } from './clickhouse-roles-command.js';
import { NATS_AUTH_USAGE, runNatsAuthCommand } from './nats-auth-command.js';
import {
  DIAGNOSE_USAGE,
  EXPLAIN_USAGE,
  FLEET_USAGE,
  MIDDLEBOXES_USAGE,
  RESETS_USAGE,
  runDiagnoseCommand,
  runExplainCommand,
  runFleetCommand,
  runMiddleboxesCommand,
  runResetsCommand,
  runTopCommand,
  runWatchCommand,
  TOP_USAGE,
  WATCH_USAGE,
} from './query/index.js';
import { SCHEMA_USAGE, runSchemaCommand } from './schema-command.js';
import { SQL_USAGE, runSqlCommand } from './sql-command.js';
import { runUpCommand } from './up/up-command.js';
import { UP_USAGE, UpConfigError } from './up/up-config.js';

const USAGE = `usage: rstscope <command> [options]

commands:
  up                run NATS, the collector (embedded ClickHouse) and the agent on this host
  agent             capture every TCP reset this host's kernel sends or receives
  collector         store the resets agents publish on NATS in ClickHouse; serve queries
  schema            print the ClickHouse DDL, single-node or --cluster NAME
  lab               build the lab's network namespaces and show resets in them
  nats-auth         make NATS credentials: an nkey per agent host, one for the collectors
  clickhouse-roles  print the SQL for rstscope's ClickHouse roles and users

query the collector (--server HOST:PORT, default $RSTSCOPE_SERVER or 127.0.0.1:7470):
  diagnose     the top causes of resets and the middleboxes that injected them
  top          count resets by cause, origin, host, service or port
  explain      tell the story of one flow's resets: who sent them, or what injected them
  resets       list the stored resets that match a filter, with their diagnosis
  watch        print resets as agents report them, until Ctrl-C
  middleboxes  the middleboxes that injected resets: path, hop, TTL, idle timeout
  fleet        the agents' health and coverage, and the collector's backlog
  sql          run one read-only SELECT on the collector's stored resets

'rstscope <command> --help' for a command's options.`;

const COMMAND_USAGE: Record<string, string> = {
  agent: AGENT_USAGE,
  collector: COLLECTOR_USAGE,
  up: UP_USAGE,
  schema: SCHEMA_USAGE,
  lab: LAB_USAGE,
  'nats-auth': NATS_AUTH_USAGE,
  'clickhouse-roles': CLICKHOUSE_ROLES_USAGE,
  sql: SQL_USAGE,
  explain: EXPLAIN_USAGE,
  diagnose: DIAGNOSE_USAGE,
  top: TOP_USAGE,
  resets: RESETS_USAGE,
  watch: WATCH_USAGE,
  middleboxes: MIDDLEBOXES_USAGE,
  fleet: FLEET_USAGE,
};

// The verbs that only read from the collector and print.
const QUERY_VERBS = new Set([
  'sql',
  'explain',
  'diagnose',
  'top',
  'resets',
  'watch',
  'middleboxes',
  'fleet',
]);

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (QUERY_VERBS.has(verb ?? '')) endQuietlyWhenReaderLeaves();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(COMMAND_USAGE[verb ?? ''] ?? USAGE);
    return 0;
  }
  switch (verb) {
    case 'agent':
      return runAgent(loadAgentConfig(rest, process.env));
    case 'collector':
      return runCollector(loadCollectorConfig(rest, process.env));
    case 'up':
      return runUpCommand(rest);
    case 'schema':
      return runSchemaCommand(rest);
    case 'lab':
      return runLabCommand(rest);
    case 'clickhouse-roles':
      return runClickhouseRolesCommand(rest, process.env);
    case 'nats-auth':
      return runNatsAuthCommand(rest);
    case 'sql':
      return runSqlCommand(rest, process.env);
    case 'explain':
      return runExplainCommand(rest, process.env);
    case 'diagnose':
      return runDiagnoseCommand(rest, process.env);
    case 'top':
      return runTopCommand(rest, process.env);
    case 'resets':
      return runResetsCommand(rest, process.env);
    case 'watch':
      return runWatchCommand(rest, process.env);
    case 'middleboxes':
      return runMiddleboxesCommand(rest, process.env);
    case 'fleet':
      return runFleetCommand(rest, process.env);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return verb === undefined ? 2 : 0;
    default:
      console.error(`rstscope: unknown command '${verb}'; run 'rstscope --help'`);
      return 2;
  }
}

/**
 * `rstscope resets | head` closes the pipe while we write: the reader has what
 * it wanted, so that ends the command with success instead of an EPIPE trace.
 * Only for the query verbs: the agent and collector have state to drain first.
 */
function endQuietlyWhenReaderLeaves(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(0);
  });
}

function report(verb: string | undefined, err: unknown): number {
  const who = verb ? `rstscope ${verb}` : 'rstscope';
  console.error(`${who}: ${err instanceof Error ? err.message : String(err)}`);
  if (err instanceof LoaderStartError && err.detail) console.error(err.detail);
  // A bad flag or setting is a usage error (exit 2); anything else failed while running.
  const usage =
    err instanceof AgentConfigError ||
    err instanceof CollectorConfigError ||
    err instanceof UpConfigError;
  return usage ? 2 : 1;
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = report(argv[0], err);
  },
);
