// Raw rst_event records → ResetEvent. Pure: no I/O, testable without root.
import { formatTimestamp } from '../proto/timestamps.js';
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
import { formatAddress, isV4Mapped } from './ip-address.js';
import { enumName, tcpFlagsName, tcpStateName } from './kernel-names.js';
import type { EnumNames } from './kernel-names.js';
import type { PidSource, ResetEvent } from './reset-event.js';

const AF_INET6 = 10;

export interface DecodeContext {
  host: string;
  bootId: string;
  rstReasons: EnumNames;
  dropReasons: EnumNames;
}

/** Decode count records starting at offset; realtimeOffsetNs turns boot time into wall time. */
export function decodeRecords(
  buf: Buffer,
  offset: number,
  realtimeOffsetNs: bigint,
  ctx: DecodeContext,
): ResetEvent[] {
  const events: ResetEvent[] = [];
  for (let at = offset; at + RST_EVENT_SIZE <= buf.length; at += RST_EVENT_SIZE) {
    events.push(decodeRecord(buf, at, realtimeOffsetNs, ctx));
  }
  return events;
}

function pidSource(value: number): PidSource {
  if (value === RST_PID_CONTEXT) return 'context';
  if (value === RST_PID_OWNER) return 'owner';
  return 'none';
}

function knownMs(value: number): number | null {
  return value === RST_UNKNOWN_U32 ? null : value;
}

export function decodeRecord(
  buf: Buffer,
  at: number,
  realtimeOffsetNs: bigint,
  ctx: DecodeContext,
): ResetEvent {
  const u8 = (f: { offset: number }) => buf.readUInt8(at + f.offset);
  const u16 = (f: { offset: number }) => buf.readUInt16LE(at + f.offset);
  const u32 = (f: { offset: number }) => buf.readUInt32LE(at + f.offset);
  const u64 = (f: { offset: number }) => buf.readBigUInt64LE(at + f.offset);
  const bytes = (f: { offset: number }, n: number) =>
    buf.subarray(at + f.offset, at + f.offset + n);

  const flags = u8(L.flags);
  const sent = u8(L.direction) === RST_DIR_SENT;
  const packet = (flags & RST_F_PACKET) !== 0;
  const reason = u16(L.reason);
  const dropReason = u32(L.drop_reason);
  const ageNs = u64(L.conn_age_ns);
  const peerTtl = u8(L.peer_ttl);
  const commBytes = bytes(L.comm, 16);
  const nul = commBytes.indexOf(0);

  return {
    ts: formatTimestamp(u64(L.ts_boot_ns) + realtimeOffsetNs),
    host: ctx.host,
    boot_id: ctx.bootId,
    direction: sent ? 'sent' : 'received',
    reason: reason === RST_REASON_UNKNOWN ? 'UNKNOWN' : enumName(ctx.rstReasons, reason),
    accepted: sent || (flags & RST_F_ACCEPTED) !== 0,
    drop_reason: !sent && dropReason ? enumName(ctx.dropReasons, dropReason) : null,
    state: tcpStateName(u8(L.state)),
    prev_state: tcpStateName(u8(L.prev_state)),
    // The wire's family: a dual-stack AF_INET6 socket talking to an IPv4 peer is IPv4.
    family:
      u16(L.family) === AF_INET6 &&
      !(isV4Mapped(bytes(L.local_addr, 16)) && isV4Mapped(bytes(L.remote_addr, 16)))
        ? 'ipv6'
        : 'ipv4',
    local_addr: formatAddress(bytes(L.local_addr, 16)),
    local_port: u16(L.local_port),
    remote_addr: formatAddress(bytes(L.remote_addr, 16)),
    remote_port: u16(L.remote_port),
    netns: u32(L.netns),
    sock_cookie: u64(L.sock_cookie).toString(),
    cgroup_id: u64(L.cgroup_id).toString(),
    pid: u32(L.pid),
    tid: u32(L.tid),
    comm: commBytes.toString('latin1', 0, nul < 0 ? 16 : nul),
    pid_source: pidSource(u8(L.pid_source)),
    bytes_acked: Number(u64(L.bytes_acked)),
    bytes_received: Number(u64(L.bytes_received)),
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
    last_sent_ms: knownMs(u32(L.last_sent_ms)),
    last_recv_ms: knownMs(u32(L.last_recv_ms)),
    survived_idle_ms: knownMs(u32(L.survived_idle_ms)),
    conn_age_ms: ageNs ? Number(ageNs) / 1e6 : null,
    trigger_flags: sent && packet ? tcpFlagsName(u8(L.pkt_flags)) : null,
    trigger_seq: sent && packet ? u32(L.pkt_seq) : null,
    trigger_ack: sent && packet ? u32(L.pkt_ack) : null,
    rst_ttl: !sent && packet ? u8(L.pkt_ttl) : null,
    rst_ip_id: !sent && packet ? u16(L.pkt_ip_id) : null,
    rst_seq: !sent && packet ? u32(L.pkt_seq) : null,
    rst_ack: !sent && packet ? u32(L.pkt_ack) : null,
    rst_window: !sent && packet ? u16(L.pkt_window) : null,
    peer_ttl: peerTtl ? peerTtl : null,
  };
}
