// A closed-port reset as it travels between agent and collector, for suites that
// publish or ingest batches by hand.
import type { WireResetEvent } from '../../proto/index.js';

export function closedPortWireEvent(overrides: Partial<WireResetEvent> = {}): WireResetEvent {
  return {
    ts_unix_ns: `${BigInt(Date.now()) * 1_000_000n}`,
    direction: 'sent',
    reason: 'NO_SOCKET',
    accepted: true,
    state: 'CLOSE',
    prev_state: 'CLOSE',
    family: 'ipv4',
    local_addr: '10.2.0.2',
    local_port: 9,
    remote_addr: '10.1.0.2',
    remote_port: 40000,
    pid_source: 'none',
    ...overrides,
  } as WireResetEvent;
}
