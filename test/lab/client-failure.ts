// A call that must fail should fail as the client's own error (status code and
// detail), not as a transport throw or a stray TypeError that a looser check would pass.
import { QueryClientError } from '../../cli/query-client.js';

/** The QueryClientError the call rejected with; throws if it succeeded or failed otherwise. */
export async function clientFailure(promise: Promise<unknown>): Promise<QueryClientError> {
  const outcome = await promise.then(
    () => ({ resolved: true as const }),
    (err: unknown) => ({ resolved: false as const, err }),
  );
  if (outcome.resolved) throw new Error('expected a QueryClientError, the call succeeded');
  if (!(outcome.err instanceof QueryClientError)) {
    throw new Error(`expected a QueryClientError, got ${String(outcome.err)}`, {
      cause: outcome.err,
    });
  }
  return outcome.err;
}
