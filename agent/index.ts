export { runAgent } from './run-agent.js';
export { loadAgentConfig, AGENT_USAGE, DEFAULT_LOADER_PATH, DEFAULT_RINGBUF_MB } from './config.js';
export type { AgentConfig } from './config.js';
export type { ResetEvent, Direction, PidSource } from './reset-event.js';
export { decodeRecords, decodeWireRecords } from './event-decoder.js';
export type { DecodeContext } from './event-decoder.js';
export {
  AgentConfigError,
  MissingCapabilityError,
  LoaderStartError,
  LoaderCrashedError,
} from './errors.js';
