// rstscope.v1.Query: one handler per RPC, each in its own file, with what it
// needs from the collector.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { QueryServiceDeps } from './query-deps.js';
import { explainFlowHandler } from './explain-flow.js';
import { fleetHandler } from './fleet.js';
import { listResetsHandler } from './list-resets.js';
import { middleboxesHandler } from './middleboxes.js';
import { sqlHandler } from './sql-handler.js';
import { topCausesHandler } from './top-causes.js';
import { watchResetsHandler } from './watch-resets.js';

export function queryServiceImplementation(deps: QueryServiceDeps): UntypedServiceImplementation {
  return {
    ListResets: listResetsHandler(deps),
    TopCauses: topCausesHandler(deps),
    ExplainFlow: explainFlowHandler(deps),
    Middleboxes: middleboxesHandler(deps),
    Fleet: fleetHandler(deps),
    Sql: sqlHandler(deps.storage, deps.limits, deps.log),
    WatchResets: watchResetsHandler(deps),
  };
}
