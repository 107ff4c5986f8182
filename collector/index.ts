export { runCollector } from './run-collector.js';
export {
  COLLECTOR_USAGE,
  DEFAULT_DATA_DIR,
  DEFAULT_NATS_URL,
  loadCollectorConfig,
} from './config.js';
export type { CollectorConfig } from './config.js';
export { CollectorConfigError } from './errors.js';
