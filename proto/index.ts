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
export const wireEventCodec = codecFor<WireResetEvent>('rstscope.v1.ResetEvent');
