// Creates rstscope's JetStream streams when they are absent, with explicit retention
// and limits. An existing stream is left as the operator configured it.
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import {
  AGENTS_SUBJECT_PREFIX,
  DEADLETTER_STREAM,
  DEADLETTER_SUBJECT_PREFIX,
  DUPLICATE_WINDOW_S,
  MAX_MESSAGE_BYTES,
  RESETS_SUBJECT_PREFIX,
  STREAM,
} from './nats-topology.js';
import type { StreamLimits } from './nats-topology.js';

const NS_PER_S = 1_000_000_000;
/** JetStream's "stream name already in use"; @nats-io/jetstream has no name for it. */
const STREAM_NAME_IN_USE = 10058;

/** What ensureStream creates: a stream's settings, always with its name. */
export type NamedStreamConfig = Partial<StreamConfig> & { name: string };

export function resetsStreamConfig(limits: StreamLimits): NamedStreamConfig {
  return {
    name: STREAM,
    subjects: [`${RESETS_SUBJECT_PREFIX}.*`, `${AGENTS_SUBJECT_PREFIX}.*`],
    // Limits, not work-queue: live watchers and the collectors read the same messages.
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: limits.maxAgeS * NS_PER_S,
    max_bytes: limits.maxBytes,
    max_msg_size: MAX_MESSAGE_BYTES,
    duplicate_window: DUPLICATE_WINDOW_S * NS_PER_S,
    num_replicas: 1,
  };
}

export function deadletterStreamConfig(): NamedStreamConfig {
  return {
    name: DEADLETTER_STREAM,
    subjects: [`${DEADLETTER_SUBJECT_PREFIX}.*`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: 7 * 24 * 3600 * NS_PER_S,
    max_bytes: 256 * 1024 * 1024,
    // A dead letter carries the refused message plus headers, so a little more room.
    max_msg_size: 2 * MAX_MESSAGE_BYTES,
    num_replicas: 1,
  };
}

/** True when it created the stream. */
export async function ensureStream(
  jsm: JetStreamManager,
  config: NamedStreamConfig,
): Promise<boolean> {
  try {
    await jsm.streams.info(config.name);
    return false;
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.code !== JetStreamApiCodes.StreamNotFound) {
      throw error;
    }
  }
  try {
    await jsm.streams.add(config);
  } catch (error) {
    // Another agent or collector created it between our two calls.
    if (error instanceof JetStreamApiError && error.code === STREAM_NAME_IN_USE) return false;
    throw error;
  }
  return true;
}
