// Middleboxes as a table: the path, where on it the box sits (hop, TTL, IP ID),
// and for idle kills the bracket of its idle timeout with the products whose
// default lies in it. Shared by `rstscope middleboxes` and `diagnose`.
import { endpointText } from '../../collector/diagnosis/endpoint.js';
import type { Middlebox } from '../../proto/index.js';
import { textTable } from '../text-table.js';
import { formatUnixNs } from './timestamps.js';

export function middleboxTable(boxes: readonly Middlebox[]): string[] {
  return textTable(
    [
      { name: 'resets', numeric: true },
      { name: 'path' },
      { name: 'kind' },
      { name: 'hop', numeric: true },
      { name: 'ttl' },
      { name: 'ip_id' },
      { name: 'idle_timeout' },
      { name: 'known' },
      { name: 'last_seen' },
    ],
    boxes.map((m) => ({
      resets: m.resets,
      path: pathText(m),
      kind: m.kind,
      hop: m.hop_distance,
      ttl: ttlText(m),
      ip_id: m.ip_id_signature,
      idle_timeout: timeoutBracket(m),
      known: m.known_timeouts.join('; '),
      last_seen: formatUnixNs(m.last_unix_ns, 3),
    })),
  );
}

/**
 * client → 10.2.0.2:9300 (server): from the host that received the resets to
 * the end it talked to; in Kubernetes, with the receiving pods and the end's name
 * (node-a [shop/checkout-x2] → 10.96.0.20:8080 shop/payments).
 */
function pathText(m: Middlebox): string {
  const hosts = m.destination_hosts.length ? ` (${m.destination_hosts.join(', ')})` : '';
  const sources = m.source_names.length ? ` [${m.source_names.join(', ')}]` : '';
  const name = m.destination_name ? ` ${m.destination_name}` : '';
  return `${m.source_host}${sources} → ${endpointText(m.destination_addr, m.destination_port)}${name}${hosts}`;
}

/** 64 (peer 63): the RST's TTL against the TTL of the peer's ordinary segments. */
function ttlText(m: Middlebox): string {
  if (typeof m.rst_ttl !== 'number') return '';
  return `${m.rst_ttl}${typeof m.peer_ttl === 'number' ? ` (peer ${m.peer_ttl})` : ''}`;
}

/** "> 3.0 s, ≤ 7.0 s": the idle timeout lies in this bracket. */
function timeoutBracket(m: Middlebox): string {
  if (typeof m.timeout_at_most_ms !== 'number') return '';
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const low = typeof m.timeout_above_ms === 'number' ? `> ${s(m.timeout_above_ms)}, ` : '';
  return `${low}≤ ${s(m.timeout_at_most_ms)}`;
}
