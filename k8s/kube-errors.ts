// One class per way the Kubernetes API can fail us; each message is one line that
// says what went wrong and what to change (RBAC rule, token, address).

export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

/** The API server could not be reached at all (refused, reset, DNS, TLS). */
export class KubeUnreachableError extends Error {
  override name = 'KubeUnreachableError';
}

/** The API answered with a failure status. */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  constructor(
    message: string,
    readonly status: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** 401: the token is missing, expired or not one the API server accepts. */
export class KubeUnauthorizedError extends KubeApiError {
  override name = 'KubeUnauthorizedError';
}

/** 403: the service account lacks an RBAC rule; the message names it. */
export class KubeForbiddenError extends KubeApiError {
  override name = 'KubeForbiddenError';
}

/**
 * 410 Gone: the resourceVersion a watch (or a list's continue token) starts from has
 * been compacted away. Not a failure of the cluster: the cure is a fresh list.
 */
export class KubeGoneError extends KubeApiError {
  override name = 'KubeGoneError';
}

/** A watch that received nothing, not even a bookmark, for longer than it asked the server to stay open. */
export class KubeWatchStalledError extends Error {
  override name = 'KubeWatchStalledError';
}
