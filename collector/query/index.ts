// The collector's query service: read-only SQL, the diagnosis RPCs and health over gRPC.
// Only what is imported through this index is named here; the CLI and the collector
// import the pieces they share (limits, host:port, filters, token files) from their files.
export { queryFailure } from './query-failure.js';
export { startQueryServer } from './query-server.js';
export type { QueryServer } from './query-server.js';
