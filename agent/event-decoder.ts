// Raw rst_event records → the wire ResetEvent, the form the agent publishes, so the
// publishing hot path builds one object per reset and formats no text it would
// parse back. What the agent prints is read from it (toResetEvent). Pure: no I/O,
// testable without root.
import type { WireResetEvent } from '../proto/index.js';
import {
  RST_DIR_SENT,
  RST_EVENT_LAYOUT as L,
  RST_EVENT_SIZE,
  RST_F_ACCEPTED,
  RST_F_ISN_EXACT,
  RST_F_LINGER_ON,
  RST_F_PACKET,
  RST_PID_CONTEXT,
  RST_PID_OWNER,
  RST_REASON_UNKNOWN,
  RST_UNKNOWN_U32,
} from './event-layout.js';
import { formatAddress } from './ip-address.js';
import { enumName, tcpFlagsName, tcpStateName } from './kernel-names.js';
import type { EnumNames } from './kernel-names.js';
import { toResetEvent } from './reset-event.js';
import type { PidSource, ResetEvent } from './reset-event.js';

const AF_INET6 = 10;

export interface DecodeContext {
  host: string;
  bootId: string;
  rstReasons: EnumNames;
  dropReasons: EnumNames;
}

/** Every whole record from offset on, as published; realtimeOffsetNs turns boot time into wall time. */
export function decodeWireRecords(
  buf: Buffer,
  offset: number,
  realtimeOffsetNs: bigint,
  ctx: DecodeContext,
): WireResetEvent[] {
  const events: WireResetEvent[] = [];
  for (let at = offset; at + RST_EVENT_SIZE <= buf.length; at += RST_EVENT_SIZE) {
    events.push(decodeWireRecord(buf, at, realtimeOffsetNs, ctx));
  }
  return events;
}

/** The same records as the agent prints them (and the `resets` table stores them). */
export function decodeRecords(
  buf: Buffer,
  offset: number,
  realtimeOffsetNs: bigint,
  ctx: DecodeContext,
): ResetEvent[] {
  return decodeWireRecords(buf, offset, realtimeOffsetNs, ctx).map((e) =>
    toResetEvent(e, ctx.host, ctx.bootId),
  );
}

function pidSource(value: number): PidSource {
  if (value === RST_PID_CONTEXT) return 'context';
  if (value === RST_PID_OWNER) return 'owner';
  return 'none';
}

function decodeWireRecord(
  buf: Buffer,
  at: number,
  realtimeOffsetNs: bigint,
  ctx: DecodeContext,
): WireResetEvent {
  // Field readers by layout offset. This runs for every reset the agent
  // publishes, so fields are read in place: no views, no BigInt below 2^53.
  const u8 = (f: Field) => buf[at + f.offset]!;
  const u16 = (f: Field) => buf.readUInt16LE(at + f.offset);
  const u32 = (f: Field) => buf.readUInt32LE(at + f.offset);
  const u64 = (f: Field) => u64Text(buf, at + f.offset);

  const flags = u8(L.flags);
  const sent = u8(L.direction) === RST_DIR_SENT;
  const reason = u16(L.reason);
  const commAt = at + L.comm.offset;
  let commEnd = commAt;
  while (commEnd < commAt + 16 && buf[commEnd] !== 0) commEnd++;
  const localAddr = formatAddress(buf, at + L.local_addr.offset);
  const remoteAddr = formatAddress(buf, at + L.remote_addr.offset);

  const event: WireResetEvent = {
    ts_unix_ns: (buf.readBigUInt64LE(at + L.ts_boot_ns.offset) + realtimeOffsetNs).toString(),
    direction: sent ? 'sent' : 'received',
    reason: reason === RST_REASON_UNKNOWN ? 'UNKNOWN' : enumName(ctx.rstReasons, reason),
    accepted: sent || (flags & RST_F_ACCEPTED) !== 0,
    state: tcpStateName(u8(L.state)),
    prev_state: tcpStateName(u8(L.prev_state)),
    // The wire's family: a dual-stack AF_INET6 socket talking to an IPv4 peer is
    // IPv4, and only v4-mapped addresses print without a colon.
    family:
      u16(L.family) === AF_INET6 && (localAddr.includes(':') || remoteAddr.includes(':'))
        ? 'ipv6'
        : 'ipv4',
    local_addr: localAddr,
    local_port: u16(L.local_port),
    remote_addr: remoteAddr,
    remote_port: u16(L.remote_port),
    netns: u32(L.netns),
    sock_cookie: u64(L.sock_cookie).toString(),
    cgroup_id: u64(L.cgroup_id).toString(),
    pid: u32(L.pid),
    tid: u32(L.tid),
    comm: buf.toString('latin1', commAt, commEnd),
    pid_source: pidSource(u8(L.pid_source)),
    bytes_acked: u64(L.bytes_acked).toString(),
    bytes_received: u64(L.bytes_received).toString(),
    segs_in: u32(L.segs_in),
    segs_out: u32(L.segs_out),
    total_retrans: u32(L.total_retrans),
    srtt_us: u32(L.srtt_us),
    snd_una: u32(L.snd_una),
    snd_nxt: u32(L.snd_nxt),
    rcv_nxt: u32(L.rcv_nxt),
    isn_local: u32(L.isn_local),
    isn_remote: u32(L.isn_remote),
    isn_exact: (flags & RST_F_ISN_EXACT) !== 0,
    unread_bytes: u32(L.unread_bytes),
    unsent_bytes: u32(L.unsent_bytes),
    linger_on: (flags & RST_F_LINGER_ON) !== 0,
    linger_s: u32(L.linger_s),
    // Filled in by the pod attribution step when the agent runs in Kubernetes.
    pod_uid: '',
    pod_name: '',
    pod_namespace: '',
    container_name: '',
    container_id: '',
    workload: '',
    pod_labels: {},
    pod_source: '',
  };

  // proto3 optional: only what is known is set, so "unknown" survives the trip.
  const dropReason = u32(L.drop_reason);
  if (!sent && dropReason) event.drop_reason = enumName(ctx.dropReasons, dropReason);
  const lastSent = u32(L.last_sent_ms);
  if (lastSent !== RST_UNKNOWN_U32) event.last_sent_ms = lastSent;
  const lastRecv = u32(L.last_recv_ms);
  if (lastRecv !== RST_UNKNOWN_U32) event.last_recv_ms = lastRecv;
  const survivedIdle = u32(L.survived_idle_ms);
  if (survivedIdle !== RST_UNKNOWN_U32) event.survived_idle_ms = survivedIdle;
  const ageNs = u64Number(buf, at + L.conn_age_ns.offset);
  if (ageNs) event.conn_age_ms = ageNs / 1e6;
  if (flags & RST_F_PACKET) {
    if (sent) {
      // The segment that triggered the reset (NO_SOCKET and other replies).
      event.trigger_flags = tcpFlagsName(u8(L.pkt_flags));
      event.trigger_seq = u32(L.pkt_seq);
      event.trigger_ack = u32(L.pkt_ack);
    } else {
      // The RST packet's own evidence.
      event.rst_ttl = u8(L.pkt_ttl);
      event.rst_ip_id = u16(L.pkt_ip_id);
      event.rst_seq = u32(L.pkt_seq);
      event.rst_ack = u32(L.pkt_ack);
      event.rst_window = u16(L.pkt_window);
    }
  }
  const peerTtl = u8(L.peer_ttl);
  if (peerTtl) event.peer_ttl = peerTtl;
  return event;
}

type Field = { offset: number };

/** A u64 as decimal text; through BigInt only past 2^53 (cookies and counters rarely are). */
function u64Text(buf: Buffer, at: number): string {
  const high = buf.readUInt32LE(at + 4);
  if (high < 0x20_0000) return String(high * 0x1_0000_0000 + buf.readUInt32LE(at));
  return buf.readBigUInt64LE(at).toString();
}

/** A u64 as a number (exact below 2^53; a duration in ns stays far below). */
function u64Number(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at + 4) * 0x1_0000_0000 + buf.readUInt32LE(at);
}
