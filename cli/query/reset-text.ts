// One reset as a person reads it: a line for the live feed (watch) and the
// cells of a row for the stored ones (resets). Pure: a Reset in, text out.
import { endName, endpointText } from '../../collector/diagnosis/endpoint.js';
import type { FlowEnd, Reset, WireResetEvent } from '../../proto/index.js';
import type { TableColumn } from '../text-table.js';
import { printable } from '../text-table.js';
import { formatUnixNs, timeOfDayUnixNs } from './timestamps.js';

/**
 * 22:45:06.943111 web-1 received 10.1.0.2:40001 <- 10.2.0.2:7001 SYN_SENT>CLOSE RST ttl=64/63 curl[812];
 * ends the collector named carry their names: 10.244.2.7:8080 (shop/payments-0).
 */
export function resetLine(reset: Reset): string {
  const e = reset.event;
  const ttl =
    typeof e.rst_ttl === 'number' ? ` ttl=${e.rst_ttl}${e.peer_ttl ? `/${e.peer_ttl}` : ''}` : '';
  const process = processText(e);
  const cause = reset.diagnosis?.cause ? ` ${reset.diagnosis.cause}` : '';
  return printable(
    `${timeOfDayUnixNs(e.ts_unix_ns)} ${reset.host} ${e.direction.padEnd(8)} ${tuple(reset)} ` +
      `${stateText(e)} ${whatText(e)}${ttl}${process ? ` ${process}` : ''}${cause}`,
  );
}

/** Said before the reset that follows a gap the server left because we read too slowly. */
export function skippedLine(skipped: string): string {
  const n = BigInt(skipped || '0');
  return `(${n} reset${n === 1n ? '' : 's'} skipped: reading too slowly)`;
}

export const RESET_COLUMNS: readonly TableColumn[] = [
  { name: 'time' },
  { name: 'host' },
  { name: 'direction' },
  { name: 'flow' },
  { name: 'state' },
  { name: 'reason' },
  { name: 'origin' },
  { name: 'cause' },
  { name: 'process' },
];

export function resetRow(reset: Reset): Record<string, string> {
  const e = reset.event;
  return {
    time: formatUnixNs(e.ts_unix_ns),
    host: reset.host,
    direction: e.direction,
    flow: tuple(reset),
    state: stateText(e),
    reason: whatText(e),
    origin: reset.diagnosis?.origin ?? '',
    cause: reset.diagnosis?.cause ?? '',
    process: processText(e),
  };
}

/** local -> remote for a sent reset, local <- remote for a received one, each with its name. */
function tuple(reset: Reset): string {
  const e = reset.event;
  const arrow = e.direction === 'sent' ? '->' : '<-';
  const local = named(endpointText(e.local_addr, e.local_port), reset.local_end);
  const remote = named(endpointText(e.remote_addr, e.remote_port), reset.remote_end);
  return `${local} ${arrow} ${remote}`;
}

// Decoded messages leave an unset end null; older collectors set none.
function named(endpoint: string, end: FlowEnd | null | undefined): string {
  const name = end ? endName(end) : '';
  return name ? `${endpoint} (${name})` : endpoint;
}

// A reset sent for a segment no socket owned (a closed port) has no states.
function stateText(e: WireResetEvent): string {
  if (e.sock_cookie === '0' || e.sock_cookie === '') return 'no-socket';
  return e.prev_state && e.prev_state !== e.state ? `${e.prev_state}>${e.state}` : e.state;
}

// The kernel names the reason of a reset it sends; of a received one, only
// whether it took it or dropped it, and why.
function whatText(e: WireResetEvent): string {
  if (e.direction === 'sent') return e.reason;
  return e.accepted ? 'RST' : `RST discarded${e.drop_reason ? ` (${e.drop_reason})` : ''}`;
}

function processText(e: WireResetEvent): string {
  return e.pid ? `${e.comm}[${e.pid}]` : '';
}
