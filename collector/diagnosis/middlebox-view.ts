// middleboxes: injected resets grouped by the path they struck and how — the
// fingerprint of the firewall, NAT or load balancer that sent them.
//
// A path is the host that received the resets and the other end it talked to.
// Within it, resets group by kind and by the sender's TTL as it arrived (which
// gives the hop distance): one box at one place in the path. For idle kills the
// timeout is bracketed: above the longest silence any flow of the path lived
// through (survived_idle_ms, from the flows' own resets), at most the shortest
// silence that was killed; known products whose default falls inside are named.
import { quoteString } from '../storage/ddl.js';
import { qualifiedSql } from './flow-end-columns.js';
import { KNOWN_IDLE_TIMEOUTS } from './idle-timeouts.js';

const CATALOGUE = `[${KNOWN_IDLE_TIMEOUTS.map(
  (t) => `(${quoteString(`${t.name} (${t.seconds} s)`)}, ${t.seconds * 1000})`,
).join(', ')}]`;

/** The receiving ends named per path: a host runs many pods, a few tell whose flows were hit. */
export const MAX_SOURCE_NAMES = 5;

/** The middleboxes query; `where` narrows the injected resets it groups (e.g. to a window). */
export function middleboxesSelect(where = ''): string {
  return `
WITH survived AS (
    SELECT host, remote_addr, remote_port, max(survived_idle_ms) AS longest_survived_ms
    FROM reset_evidence
    WHERE survived_idle_ms IS NOT NULL
    GROUP BY host, remote_addr, remote_port
)
SELECT
    i.host AS source_host,
    i.remote_addr AS destination_addr,
    i.remote_port AS destination_port,
    groupUniqArrayArray(i.peer_watchers) AS destination_hosts,
    -- By name, when known: the receiving pods (a few) and the end they talked to.
    arraySort(groupUniqArrayIf(${MAX_SOURCE_NAMES})(
        ${qualifiedSql('i.local_namespace', 'i.local_name')}, i.local_name != '')) AS source_names,
    anyIf(${qualifiedSql('i.remote_namespace', 'i.remote_name')}, i.remote_name != '')
        AS destination_name,
    i.kind AS kind,
    i.hop_distance AS hop_distance,
    i.rst_ttl AS rst_ttl,
    any(i.peer_ttl) AS peer_ttl,
    multiIf(countIf(i.rst_ip_id IS NULL) = count(), 'none',
            max(i.rst_ip_id) = 0, 'zero',
            uniqExact(i.rst_ip_id) = 1, 'constant',
            'varying') AS ip_id_signature,
    count() AS resets,
    min(i.ts) AS first_seen,
    max(i.ts) AS last_seen,
    groupUniqArray(i.cause) AS causes,
    if(kind = 'idle_kill', min(i.idle_ms), NULL) AS shortest_killed_idle_ms,
    if(kind = 'idle_kill', max(i.idle_ms), NULL) AS longest_killed_idle_ms,
    any(s.longest_survived_ms) AS longest_survived_idle_ms,
    if(kind = 'idle_kill' AND longest_survived_idle_ms < shortest_killed_idle_ms,
       longest_survived_idle_ms, NULL) AS timeout_above_ms,
    shortest_killed_idle_ms AS timeout_at_most_ms,
    if(kind = 'idle_kill',
       arrayMap(t -> t.1, arraySlice(arrayReverseSort(t -> t.2, arrayFilter(
           t -> t.2 <= timeout_at_most_ms AND t.2 >= ifNull(timeout_above_ms, 0), ${CATALOGUE})), 1, 6)),
       []) AS known_timeouts,
    groupArray(3)(i.flow) AS example_flows,
    groupArray(3)(i.event_id) AS example_event_ids
FROM injected_resets AS i
LEFT JOIN survived AS s
    ON s.host = i.host AND s.remote_addr = i.remote_addr AND s.remote_port = i.remote_port
${where ? `WHERE ${where}` : ''}
GROUP BY i.host, i.remote_addr, i.remote_port, i.kind, i.hop_distance, i.rst_ttl`;
}

export const MIDDLEBOXES_VIEW = middleboxesSelect();
