// The query verbs: each a usage text and a run…Command(argv, env, io).
export { DIAGNOSE_USAGE, runDiagnoseCommand } from './diagnose-command.js';
export { EXPLAIN_USAGE, runExplainCommand } from './explain-command.js';
export { FLEET_USAGE, runFleetCommand } from './fleet-command.js';
export { MIDDLEBOXES_USAGE, runMiddleboxesCommand } from './middleboxes-command.js';
export { RESETS_USAGE, runResetsCommand } from './resets-command.js';
export { TOP_USAGE, runTopCommand } from './top-command.js';
export { WATCH_USAGE, runWatchCommand } from './watch-command.js';
