// The agent's own ResetEvent encoder writes the very bytes protobufjs writes
// (so the collector, the codec and any other reader see the same message),
// for every field set, every field unset, 64-bit extremes, text that needs
// multi-byte UTF-8 or long length prefixes, and maps; and the batches built
// from it decode to the events that went in.
import { describe, expect, it } from 'vitest';
import { BatchBuilder } from '../agent/publish/batch-builder.js';
import { EventEncoder } from '../agent/publish/event-encoder.js';
import { messageType } from '../proto/codec.js';
import { resetBatchCodec, wireEventCodec } from '../proto/index.js';
import type { WireResetEvent } from '../proto/index.js';

const LONG = 'ü日本'.repeat(50);

const FULL: WireResetEvent = {
  ts_unix_ns: '18446744073709551615',
  direction: 'received',
  reason: 'NOT_SPECIFIED',
  accepted: true,
  drop_reason: 'TCP_RFC7323_PAWS',
  state: 'ESTABLISHED',
  prev_state: 'SYN_RECV',
  family: 'ipv6',
  local_addr: 'fe80::1',
  local_port: 65535,
  remote_addr: '2001:db8::2',
  remote_port: 1,
  netns: 4294967295,
  sock_cookie: '9007199254740993',
  cgroup_id: '123456789012345678',
  pid: 1,
  tid: 2,
  comm: 'tab\there ü',
  pid_source: 'owner',
  bytes_acked: '0',
  bytes_received: '9007199254740991',
  segs_in: 0,
  segs_out: 127,
  total_retrans: 128,
  srtt_us: 16384,
  snd_una: 4294967295,
  snd_nxt: 2097152,
  rcv_nxt: 268435456,
  isn_local: 3,
  isn_remote: 4,
  isn_exact: false,
  unread_bytes: 5,
  unsent_bytes: 6,
  linger_on: true,
  linger_s: 7,
  last_sent_ms: 0,
  last_recv_ms: 8,
  conn_age_ms: 1234.5678,
  trigger_flags: 'ACK|PSH',
  trigger_seq: 9,
  trigger_ack: 10,
  rst_ttl: 255,
  rst_ip_id: 65535,
  rst_seq: 11,
  rst_ack: 12,
  rst_window: 0,
  peer_ttl: 63,
  survived_idle_ms: 13,
  pod_uid: '3f1c2a7e-9b4d-4e21-8c55-0a9d6b7e1f23',
  pod_name: LONG,
  pod_namespace: 'shop',
  container_name: 'x'.repeat(200),
  container_id: '',
  workload: 'Deployment/checkout',
  pod_labels: { app: 'checkout', empty: '', [LONG]: LONG, ['x'.repeat(130)]: 'y' },
  pod_source: 'cgroup',
};

/** What the agent sends most: only some fields set, optional ones absent. */
const SPARSE = {
  ts_unix_ns: '1779450000123456789',
  direction: 'sent',
  reason: 'NO_SOCKET',
  family: 'ipv4',
  local_addr: '10.0.0.1',
  remote_addr: '10.0.0.2',
  local_port: 80,
  sock_cookie: '42',
  pod_labels: {},
} as WireResetEvent;

/** The codec's bytes, as a batch's field-5 entry. */
function codecEntry(event: WireResetEvent): Buffer {
  const body = Buffer.from(wireEventCodec.encode(event));
  const prefix = [0x2a];
  for (let n = body.length; ; n >>>= 7) {
    prefix.push(n > 0x7f ? (n & 0x7f) | 0x80 : n);
    if (n <= 0x7f) break;
  }
  return Buffer.concat([Buffer.from(prefix), body]);
}

describe('the agent event encoder', () => {
  it('the full event sets every field, so a new field cannot go untested', () => {
    for (const field of messageType('rstscope.v1.ResetEvent').fieldsArray) {
      expect(FULL[field.name as keyof WireResetEvent], field.name).not.toBeUndefined();
    }
  });

  it('writes the bytes protobufjs writes', () => {
    const encoder = new EventEncoder();
    const cases: WireResetEvent[] = [
      FULL,
      SPARSE,
      { ...FULL, ts_unix_ns: '1', sock_cookie: '18446744073709551615', pod_labels: {} },
      { ...SPARSE, comm: 'a'.repeat(127) },
      { ...SPARSE, comm: 'a'.repeat(128) },
      { ...SPARSE, comm: 'é'.repeat(63) },
      { ...SPARSE, comm: 'é'.repeat(64) },
      { ...SPARSE, conn_age_ms: 0, rst_ttl: 0, drop_reason: '' },
    ];
    for (const [i, event] of cases.entries()) {
      expect(encoder.entry(event).equals(codecEntry(event)), `case ${i}`).toBe(true);
    }
  });

  it('batches of it decode to the events that went in', () => {
    const builder = new BatchBuilder(
      { host: 'h', bootId: 'b', runId: '3' },
      { maxEvents: 3, maxBytes: 1 << 20, maxDelayMs: 1000 },
    );
    const events = [FULL, SPARSE, { ...SPARSE, local_port: 81 }];
    const [batch] = events.flatMap((e) => builder.add(e, 0));
    const decoded = resetBatchCodec.decode(batch!.bytes);
    expect(decoded.events).toEqual(
      events.map((e) => wireEventCodec.decode(wireEventCodec.encode(e))),
    );
    expect(decoded.seq).toBe('1');
  });
});
