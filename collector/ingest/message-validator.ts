// Decides what one JetStream message is: a batch of resets, a heartbeat, or
// something to refuse (with the kind of refusal, for counting and dead-lettering).
// No I/O; naming the ends reads the collector's address map as it is now.
import { isIP } from 'node:net';
import { MessageDecodeError, heartbeatCodec } from '../../proto/index.js';
import type { AgentHeartbeat } from '../../proto/index.js';
import {
  AGENTS_SUBJECT_PREFIX,
  MAX_MESSAGE_BYTES,
  RESETS_SUBJECT_PREFIX,
  hostOfSubject,
} from '../../proto/nats-topology.js';
import type { NameFlowEnds } from '../k8s/flow-ends.js';
import { readResetBatchNative } from './reset-batch-native.js';
import type { ResetBatchNative } from './reset-batch-native.js';
import { readResetBatchTsv } from './reset-batch-tsv.js';
import type { ResetBatchTsv } from './reset-batch-tsv.js';

/** How a batch of resets is read for its insert: chDB takes Native, a server TSV. */
export type InsertFormat = 'native' | 'tsv';

export type RefusalKind =
  | 'oversize'
  | 'undecodable'
  | 'invalid_header'
  | 'host_mismatch'
  | 'invalid_event'
  | 'unknown_subject';

export type Validated =
  | { kind: 'resets'; batch: ResetBatchTsv | ResetBatchNative }
  | { kind: 'heartbeat'; heartbeat: AgentHeartbeat }
  | { kind: 'refused'; refusal: RefusalKind; detail: string };

function refuse(refusal: RefusalKind, detail: string): Validated {
  return { kind: 'refused', refusal, detail };
}

/** With `nameEnds`, the rows of a batch of resets carry both ends by name. */
export function validateMessage(
  subject: string,
  data: Uint8Array,
  maxBytes = MAX_MESSAGE_BYTES,
  nameEnds?: NameFlowEnds,
  format: InsertFormat = 'tsv',
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
  if (isResets) {
    const read =
      format === 'native'
        ? readResetBatchNative(data, nameEnds)
        : readResetBatchTsv(data, nameEnds);
    if (!read.ok) return refuse(read.kind, read.problem);
    // A batch may only speak for the host whose subject it was published on: with
    // per-agent NATS permissions this stops one host from writing another's resets.
    if (read.batch.host !== subjectHost) {
      return refuse(
        'host_mismatch',
        `payload host ${read.batch.host} on subject of ${subjectHost}`,
      );
    }
    return { kind: 'resets', batch: read.batch };
  }
  let heartbeat: AgentHeartbeat;
  try {
    heartbeat = heartbeatCodec.decode(data);
  } catch (error) {
    if (error instanceof MessageDecodeError) return refuse('undecodable', error.message);
    throw error;
  }
  if (!heartbeat.host || !heartbeat.boot_id || heartbeat.run_id === '0') {
    return refuse('invalid_header', 'host, boot_id and run_id are required');
  }
  if (heartbeat.host !== subjectHost) {
    return refuse('host_mismatch', `payload host ${heartbeat.host} on subject of ${subjectHost}`);
  }
  if (heartbeat.covered_to_unix_ns === '0') return refuse('invalid_header', 'no covered span');
  const bad = heartbeat.addresses.find((a) => !isIP(a));
  if (bad !== undefined) return refuse('invalid_event', `address ${bad} is not an IP address`);
  return { kind: 'heartbeat', heartbeat };
}
