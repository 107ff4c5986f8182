// Decides what one JetStream message is: a batch of resets, a heartbeat, or
// something to refuse (with the kind of refusal, for counting and dead-lettering).
// Pure: no I/O.
import { isIP } from 'node:net';
import { MessageDecodeError, heartbeatCodec, resetBatchCodec } from '../../proto/index.js';
import type { AgentHeartbeat, ResetBatch, WireResetEvent } from '../../proto/index.js';
import {
  AGENTS_SUBJECT_PREFIX,
  MAX_MESSAGE_BYTES,
  RESETS_SUBJECT_PREFIX,
  hostOfSubject,
} from '../../proto/nats-topology.js';

export type RefusalKind =
  | 'oversize'
  | 'undecodable'
  | 'invalid_header'
  | 'host_mismatch'
  | 'invalid_event'
  | 'unknown_subject';

export type Validated =
  | { kind: 'resets'; batch: ResetBatch }
  | { kind: 'heartbeat'; heartbeat: AgentHeartbeat }
  | { kind: 'refused'; refusal: RefusalKind; detail: string };

function refuse(refusal: RefusalKind, detail: string): Validated {
  return { kind: 'refused', refusal, detail };
}

export function validateMessage(
  subject: string,
  data: Uint8Array,
  maxBytes = MAX_MESSAGE_BYTES,
): Validated {
  if (data.length > maxBytes) {
    return refuse('oversize', `${data.length} bytes, the limit is ${maxBytes}`);
  }
  const subjectHost = hostOfSubject(subject);
  if (subjectHost === undefined) return refuse('unknown_subject', subject);
  const isResets = subject.startsWith(`${RESETS_SUBJECT_PREFIX}.`);
  if (!isResets && !subject.startsWith(`${AGENTS_SUBJECT_PREFIX}.`)) {
    return refuse('unknown_subject', subject);
  }
  const codec = isResets ? resetBatchCodec : heartbeatCodec;
  let message: ResetBatch | AgentHeartbeat;
  try {
    message = codec.decode(data);
  } catch (error) {
    if (error instanceof MessageDecodeError) return refuse('undecodable', error.message);
    throw error;
  }
  if (!message.host || !message.boot_id || message.run_id === '0') {
    return refuse('invalid_header', 'host, boot_id and run_id are required');
  }
  // A batch may only speak for the host whose subject it was published on: with
  // per-agent NATS permissions this stops one host from writing another's resets.
  if (message.host !== subjectHost) {
    return refuse('host_mismatch', `payload host ${message.host} on subject of ${subjectHost}`);
  }
  if (!isResets) {
    const heartbeat = message as AgentHeartbeat;
    if (heartbeat.covered_to_unix_ns === '0') return refuse('invalid_header', 'no covered span');
    const bad = heartbeat.addresses.find((a) => !isIP(a));
    if (bad !== undefined) return refuse('invalid_event', `address ${bad} is not an IP address`);
    return { kind: 'heartbeat', heartbeat };
  }
  const batch = message as ResetBatch;
  if (batch.seq === '0') return refuse('invalid_header', 'seq must start at 1');
  for (const [i, event] of batch.events.entries()) {
    const problem = eventProblem(event);
    if (problem) return refuse('invalid_event', `event ${i}: ${problem}`);
  }
  return { kind: 'resets', batch };
}

function eventProblem(e: WireResetEvent): string | undefined {
  if (e.ts_unix_ns === '0') return 'no timestamp';
  if (e.direction !== 'sent' && e.direction !== 'received') return `direction ${e.direction}`;
  if (e.family !== 'ipv4' && e.family !== 'ipv6') return `family ${e.family}`;
  if (!isIP(e.local_addr) || !isIP(e.remote_addr)) return 'address is not an IP address';
  if (e.local_port > 0xffff || e.remote_port > 0xffff) return 'port above 65535';
  const bytes = [e.rst_ttl, e.peer_ttl];
  if (bytes.some((v) => v !== undefined && v > 0xff)) return 'TTL above 255';
  const shorts = [e.rst_ip_id, e.rst_window];
  if (shorts.some((v) => v !== undefined && v > 0xffff)) return 'IP ID or window above 65535';
  return undefined;
}
