// A ResetBatch read in place from its protobuf bytes for a Native insert into
// `resets`: no message objects, no text. The read notes where each field's
// value is (reset-scan.ts) and checks every event; the block is written when
// the rows are inserted (native-reset-block.ts), one for all the batches of an
// insert, copying strings, timestamps and doubles byte for byte from the
// message. ClickHouse reads Native column by column (~3 µs a row against ~22
// for the same rows in TSV on this VM). Same columns, values and refusals as
// reset-batch-tsv.ts, which the ClickHouse-server backend still uses.
import { batchId } from '../../proto/nats-topology.js';
import { unnamed } from '../k8s/flow-ends.js';
import type { FlowEnds, NameFlowEnds } from '../k8s/flow-ends.js';
import { ipBytes } from './ip-bytes.js';
import { resetsNativeBlock } from './native-reset-block.js';
import type { BlockPart } from './native-reset-columns.js';
import { readVarint, skipValue, varintEnd, varintHigh } from './protobuf-scan.js';
import type { ReadFailure } from './reset-batch-tsv.js';
import {
  ID,
  STRIDE,
  newScan,
  sameBytes,
  scanEvent,
  stringAt,
  stringEnd,
  tsHigh,
  tsLow,
  uint32At,
} from './reset-scan.js';
import type { Scan } from './reset-scan.js';
import { TIMESTAMP_TOO_EARLY, TIMESTAMP_TOO_LATE, shownValue } from './shown-value.js';

export { RESET_NATIVE_COLUMNS } from './native-reset-columns.js';

export interface ResetBatchNative {
  host: string;
  bootId: string;
  runId: string;
  seq: string;
  batchId: string;
  /** Events in the batch (index = batch_index). */
  rows: number;
  /** Earliest and latest event time as decimal seconds (for the de-duplication query). */
  firstTs: string;
  lastTs: string;
  /** The rows `keep` accepts (all without it), for resetsNativeBlock. */
  part(keep?: (index: number) => boolean): BlockPart;
  /** One Native block of the rows `keep` accepts (all without it); none left: empty. */
  block(keep?: (index: number) => boolean): Buffer;
}

export type ReadNativeResult = { ok: true; batch: ResetBatchNative } | ReadFailure;

export function readResetBatchNative(bytes: Uint8Array, nameEnds?: NameFlowEnds): ReadNativeResult {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let host = '';
  let bootId = '';
  let runId = '0';
  let seq = '0';
  const events: number[] = [];
  try {
    let pos = 0;
    const end = bytes.length;
    while (pos < end) {
      const tag = readVarint(bytes, pos, end);
      pos = varintEnd;
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field >= 1 && field <= 5 && wire !== (field <= 2 || field === 5 ? 2 : 0)) {
        throw new RangeError(`field ${field} has wire type ${wire}`);
      }
      if (field === 1 || field === 2 || field === 5) {
        const length = readVarint(bytes, pos, end);
        const start = varintEnd;
        if (start + length > end) throw new RangeError('value runs past the end');
        if (field === 5) events.push(start, start + length);
        else if (field === 1) host = text.toString('utf8', start, start + length);
        else bootId = text.toString('utf8', start, start + length);
        pos = start + length;
      } else if (field === 3 || field === 4) {
        const low = readVarint(bytes, pos, end);
        pos = varintEnd;
        const value = uint64Text(low, varintHigh);
        if (field === 3) runId = value;
        else seq = value;
      } else {
        pos = skipValue(bytes, pos, end, wire);
      }
    }
  } catch (error) {
    return undecodable(error);
  }
  if (!host || !bootId || runId === '0' || seq === '0') {
    return {
      ok: false,
      kind: 'invalid_header',
      problem: 'host, boot_id, run_id and seq ≥ 1 are required',
    };
  }
  const count = events.length / 2;
  const scan = newScan(bytes, count);
  try {
    for (let e = 0; e < count; e++) scanEvent(scan, e, events[2 * e]!, events[2 * e + 1]!);
  } catch (error) {
    return undecodable(error);
  }
  let first = -1;
  let last = -1;
  for (let e = 0; e < count; e++) {
    const problem = eventProblem(scan, text, e);
    if (problem) return { ok: false, kind: 'invalid_event', problem: `event ${e}: ${problem}` };
    if (first < 0 || tsBefore(scan, e, first)) first = e;
    if (last < 0 || tsBefore(scan, last, e)) last = e;
  }
  if (nameEnds) scan.ends = nameAll(scan, text, nameEnds);
  const id = batchId(host, bootId, runId, seq);
  return {
    ok: true,
    batch: {
      host,
      bootId,
      runId,
      seq,
      batchId: id,
      rows: count,
      firstTs: count ? tsText(scan, first) : '',
      lastTs: count ? tsText(scan, last) : '',
      part: (keep) => part(scan, { host, bootId, batchId: id }, keep),
      block: (keep) =>
        Buffer.concat(resetsNativeBlock([part(scan, { host, bootId, batchId: id }, keep)])),
    },
  };
}

function undecodable(error: unknown): ReadFailure {
  return {
    ok: false,
    kind: 'undecodable',
    problem: `not a rstscope.v1.ResetBatch: ${(error as Error).message}`,
  };
}

function textAt(scan: Scan, text: Buffer, e: number, field: number): string {
  const start = stringAt(scan, e, field);
  return start === stringEnd ? '' : text.toString('utf8', start, stringEnd);
}

/**
 * textAt for the fields naming reads on every event, which mostly repeat the
 * previous event's (one pod, one node address): comparing the bytes costs less
 * than a new string.
 */
function memoText(scan: Scan, text: Buffer, e: number, field: number, memo: TextMemo): string {
  const start = stringAt(scan, e, field);
  const end = stringEnd;
  if (start === end) return '';
  if (!sameBytes(scan.bytes, start, end, memo.start, memo.end)) {
    memo.text = text.toString('utf8', start, end);
    memo.start = start;
    memo.end = end;
  }
  return memo.text;
}

interface TextMemo {
  start: number;
  end: number;
  text: string;
}

function isText(scan: Scan, e: number, field: number, a: string, b: string): boolean {
  const start = stringAt(scan, e, field);
  const end = stringEnd;
  return equalsAscii(scan.bytes, start, end, a) || equalsAscii(scan.bytes, start, end, b);
}

function equalsAscii(bytes: Uint8Array, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

const F = {
  ts: ID.ts_unix_ns!,
  direction: ID.direction!,
  family: ID.family!,
  localAddr: ID.local_addr!,
  remoteAddr: ID.remote_addr!,
  localPort: ID.local_port!,
  remotePort: ID.remote_port!,
  podName: ID.pod_name!,
  podNamespace: ID.pod_namespace!,
  workload: ID.workload!,
};
/** Fields whose value must fit a smaller column than their wire type: [field, max, words]. */
const BOUNDED: readonly [number, number, string][] = [
  [ID.rst_ttl!, 0xff, 'rst_ttl above 255'],
  [ID.peer_ttl!, 0xff, 'peer_ttl above 255'],
  [ID.rst_ip_id!, 0xffff, 'rst_ip_id above 65535'],
  [ID.rst_window!, 0xffff, 'rst_window above 65535'],
];

function eventProblem(scan: Scan, text: Buffer, e: number): string | undefined {
  if (scan.at[e * STRIDE + F.ts]! < 0) return 'no timestamp';
  const high = tsHigh(scan, e);
  if (tsLow(scan, e) === 0 && high === 0) return 'no timestamp';
  // 1e18 ns = 0x0de0b6b3_a7640000: as the TSV reader, whose text form of earlier times
  // ClickHouse cannot read (and a reset from 1970 means the host's clock is unset).
  if (high < 0x0de0_b6b3 || (high === 0x0de0_b6b3 && tsLow(scan, e) < 0xa764_0000)) {
    return TIMESTAMP_TOO_EARLY;
  }
  // DateTime64(9) ends at 2^63 − 1 ns (2262): a later time would fail the insert for ever.
  if (high >= 0x8000_0000) return TIMESTAMP_TOO_LATE;
  if (!isText(scan, e, F.direction, 'sent', 'received')) {
    return `direction ${shownValue(textAt(scan, text, e, F.direction))}`;
  }
  if (!isText(scan, e, F.family, 'ipv4', 'ipv6')) {
    return `family ${shownValue(textAt(scan, text, e, F.family))}`;
  }
  const ls = stringAt(scan, e, F.localAddr);
  if (!ipBytes(scan.bytes, ls, stringEnd, scan.local, e * 16)) {
    return 'address is not an IP address';
  }
  const rs = stringAt(scan, e, F.remoteAddr);
  if (!ipBytes(scan.bytes, rs, stringEnd, scan.remote, e * 16)) {
    return 'address is not an IP address';
  }
  if (uint32At(scan, e, F.localPort) > 0xffff || uint32At(scan, e, F.remotePort) > 0xffff) {
    return 'port above 65535';
  }
  for (const [field, max, words] of BOUNDED) if (uint32At(scan, e, field) > max) return words;
  return undefined;
}

function tsBefore(scan: Scan, a: number, b: number): boolean {
  const ah = tsHigh(scan, a);
  const bh = tsHigh(scan, b);
  return ah < bh || (ah === bh && tsLow(scan, a) < tsLow(scan, b));
}

/** "seconds.nanoseconds", as DateTime64(9) parses it exactly. */
function tsText(scan: Scan, e: number): string {
  const ns = (BigInt(tsHigh(scan, e)) << 32n) | BigInt(tsLow(scan, e));
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/** Nanoseconds in decimal, exactly, without a BigInt: (high·2^32 + low) as ms and the rest. */
function tsNanosText(scan: Scan, e: number): string {
  const low = tsLow(scan, e);
  const high = tsHigh(scan, e);
  // 2^32 = 4294·10^6 + 967296; high·967296 + low stays below 2^53.
  const below = high * 967296 + low;
  const millis = high * 4294 + Math.floor(below / 1_000_000);
  const rest = below % 1_000_000;
  return millis ? `${millis}${String(rest).padStart(6, '0')}` : String(rest);
}

function nameAll(scan: Scan, text: Buffer, nameEnds: NameFlowEnds): FlowEnds[] {
  const ends = new Array<FlowEnds>(scan.count);
  const memo = (): TextMemo => ({ start: 0, end: 0, text: '' });
  const [local, remote, pod, namespace, workload] = [memo(), memo(), memo(), memo(), memo()];
  let previous = UNNAMED;
  for (let e = 0; e < scan.count; e++) {
    try {
      const named = nameEnds({
        ts_unix_ns: tsNanosText(scan, e),
        local_addr: memoText(scan, text, e, F.localAddr, local),
        local_port: uint32At(scan, e, F.localPort),
        remote_addr: memoText(scan, text, e, F.remoteAddr, remote),
        remote_port: uint32At(scan, e, F.remotePort),
        pod_name: memoText(scan, text, e, F.podName, pod),
        pod_namespace: memoText(scan, text, e, F.podNamespace, namespace),
        workload: memoText(scan, text, e, F.workload, workload),
      });
      // The same ends as the event before (the ends themselves are shared): keep
      // one object, so the batch does not hold one per event until its insert.
      if (named.local !== previous.local || named.remote !== previous.remote) previous = named;
      ends[e] = previous;
    } catch {
      // Naming is a convenience: a failure of it must not cost the row.
      ends[e] = UNNAMED;
    }
  }
  return ends;
}

const UNNAMED: FlowEnds = { local: unnamed(), remote: unnamed() };

/** The batch's rows `keep` accepts, for a block. */
function part(
  scan: Scan,
  id: BlockPart['id'],
  keep: ((index: number) => boolean) | undefined,
): BlockPart {
  const rows: number[] = [];
  for (let e = 0; e < scan.count; e++) if (!keep || keep(e)) rows.push(e);
  return { scan, rows, id };
}

/** A uint64 in decimal from its halves (exact beyond 2^53 through BigInt). */
function uint64Text(low: number, high: number): string {
  return high < 0x20_0000
    ? String(high * 2 ** 32 + low)
    : ((BigInt(high) << 32n) | BigInt(low)).toString();
}
