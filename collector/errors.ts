// One class per kind of failure the collector reports, each message one line
// that says what is wrong and how to fix it.

export class CollectorConfigError extends Error {
  override name = 'CollectorConfigError';
}

/** NATS cannot be reached, or the durable consumer stopped delivering. */
export class NatsIntakeError extends Error {
  override name = 'NatsIntakeError';
}
