// reset_pairs: which sent reset is which received reset, across hosts and NAT.
//
// Rules, strongest first (docs/diagnosis.md):
//   1. rst   — the RST's sequence and acknowledgment numbers: what the sender's
//              stack put on the wire (evidence-view.ts) is what the receiver read.
//              NAT rewrites addresses and ports, not sequence numbers.
//   2. isn   — the initial sequence numbers of both directions, as an unordered
//              pair: both ends derive the same two numbers for one connection.
//   3. tuple — addresses and ports mirrored, for rows without sequence evidence;
//              does not survive NAT.
// Every rule also needs the two rows within MATCH_TOLERANCE_S of each other and
// at different ends (not one socket's own sent and received resets).

/** Clock skew between hosts plus the RST's one-way trip; beyond it, no match. */
export const MATCH_TOLERANCE_S = 10;

/**
 * The pairing over `evidence`: the reset_evidence view, or a table expression
 * with its columns (a CTE holding only the rows a query needs, cause-view.ts).
 */
export function resetPairsSelect(evidence = 'reset_evidence'): string {
  return `
WITH keys AS (
    SELECT event_id, direction, ts, host, netns, local_addr, local_port,
           k.1 AS key, k.2 AS rank
    FROM ${evidence}
    ARRAY JOIN arrayFilter(k -> k.1 != 0, [(key_rst, 1), (key_isn, 2), (key_tuple, 3)]) AS k
)
SELECT
    r.event_id AS received_id,
    argMin(s.event_id, (r.rank, abs(dateDiff('millisecond', s.ts, r.ts)))) AS sent_id,
    ['rst', 'isn', 'tuple'][min(r.rank)] AS rule
FROM keys AS r
INNER JOIN keys AS s ON s.key = r.key AND s.rank = r.rank
WHERE r.direction = 'received' AND s.direction = 'sent'
  AND abs(dateDiff('millisecond', s.ts, r.ts)) <= ${MATCH_TOLERANCE_S * 1000}
  AND NOT (s.host = r.host AND s.netns = r.netns
           AND s.local_addr = r.local_addr AND s.local_port = r.local_port)
GROUP BY r.event_id`;
}

export const RESET_PAIRS_VIEW = resetPairsSelect();
