import { codecFor } from './codec.js';
import type {
  AgentHeartbeat,
  ResetBatch,
  ResetEvent as WireResetEvent,
} from './generated/schema.js';

export { codecFor, grpcServiceDefinition, MessageDecodeError } from './codec.js';
export type { Codec, GrpcMethodDefinition } from './codec.js';
export type {
  AgentCounters,
  AgentHeartbeat,
  ResetAggregate,
  CollectorStatus,
  Diagnosis,
  FlowEnd,
  ExplainFlowRequest,
  ExplainFlowResponse,
  FleetAgent,
  FleetRequest,
  FleetResponse,
  FlowStory,
  HealthCheckRequest,
  HealthCheckResponse,
  ListResetsRequest,
  ListResetsResponse,
  Middlebox,
  MiddleboxesRequest,
  MiddleboxesResponse,
  NetnsCoverage,
  Reset,
  ResetBatch,
  ResetEvent as WireResetEvent,
  ResetFilter,
  SqlColumn,
  SqlRequest,
  SqlResponse,
  TopCausesRequest,
  TopCausesResponse,
  TopCausesRow,
  WatchResetsRequest,
  WatchResetsResponse,
} from './generated/schema.js';

export const resetBatchCodec = codecFor<ResetBatch>('rstscope.v1.ResetBatch');
export const heartbeatCodec = codecFor<AgentHeartbeat>('rstscope.v1.AgentHeartbeat');
export const wireEventCodec = codecFor<WireResetEvent>('rstscope.v1.ResetEvent');
