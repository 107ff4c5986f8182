// Failures of the agent's Kubernetes attribution; each message is one line
// that says what is wrong and how to fix it.

/** The configured cgroup root is missing or is not a cgroup v2 mount. */
export class CgroupMountError extends Error {
  override name = 'CgroupMountError';
}
