// One class per kind of failure the agent reports; each message is one line
// that says what is wrong and how to fix it.

export class AgentConfigError extends Error {
  override name = 'AgentConfigError';
}

/** CAP_BPF or CAP_PERFMON missing, or held only in a user namespace (agent/capabilities.ts). */
export class MissingCapabilityError extends Error {
  override name = 'MissingCapabilityError';
}

/** The loader could not start: unsupported kernel, BPF load or attach failure. */
export class LoaderStartError extends Error {
  override name = 'LoaderStartError';
  constructor(
    message: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export class LoaderCrashedError extends Error {
  override name = 'LoaderCrashedError';
}
