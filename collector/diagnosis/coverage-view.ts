// agent_coverage: which host watched which address, from when to when. It is
// what lets the diagnosis say "the peer sent nothing" (it was watched) rather
// than "we cannot know" (it was not).
//
// One row per agent run and address: from the run's start to its latest
// heartbeat. A reset newer than the peer's latest heartbeat is not yet covered:
// its verdict waits for the next heartbeat (at most interval_s), because until
// then the peer's own record of the reset may still be on its way.
// An address that appeared during a run counts from the run's start.

export const AGENT_COVERAGE_VIEW = `
SELECT host, boot_id, run_id, address,
       min(covered_from) AS covered_from, max(ts) AS covered_to
FROM agents
ARRAY JOIN addresses AS address
GROUP BY host, boot_id, run_id, address`;

/** Per reset: the hosts whose agents watched the given address column at its time. */
export function watchersOf(
  addressColumn: 'local_addr' | 'remote_addr',
  evidence = 'reset_evidence',
): string {
  return `
    SELECT e.event_id AS event_id, groupUniqArray(c.host) AS hosts
    FROM ${evidence} AS e
    INNER JOIN agent_coverage AS c ON c.address = e.${addressColumn}
    WHERE e.ts >= c.covered_from AND e.ts <= c.covered_to
    GROUP BY e.event_id`;
}
