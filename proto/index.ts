import { codecFor } from './codec.js';
import type {
  AgentHeartbeat,
  HealthCheckRequest,
  HealthCheckResponse,
  ResetBatch,
  ResetEvent as WireResetEvent,
  SqlRequest,
  SqlResponse,
} from './generated/schema.js';

export { codecFor, grpcServiceDefinition, MessageDecodeError } from './codec.js';
export type { Codec, GrpcMethodDefinition } from './codec.js';
export type {
  AgentCounters,
  AgentHeartbeat,
  HealthCheckRequest,
  HealthCheckResponse,
  NetnsCoverage,
  ResetBatch,
  ResetEvent as WireResetEvent,
  SqlColumn,
  SqlRequest,
  SqlResponse,
} from './generated/schema.js';

export const resetBatchCodec = codecFor<ResetBatch>('rstscope.v1.ResetBatch');
export const heartbeatCodec = codecFor<AgentHeartbeat>('rstscope.v1.AgentHeartbeat');
export const sqlRequestCodec = codecFor<SqlRequest>('rstscope.v1.SqlRequest');
export const sqlResponseCodec = codecFor<SqlResponse>('rstscope.v1.SqlResponse');
export const healthCheckRequestCodec = codecFor<HealthCheckRequest>(
  'grpc.health.v1.HealthCheckRequest',
);
export const healthCheckResponseCodec = codecFor<HealthCheckResponse>(
  'grpc.health.v1.HealthCheckResponse',
);
export const wireEventCodec = codecFor<WireResetEvent>('rstscope.v1.ResetEvent');
