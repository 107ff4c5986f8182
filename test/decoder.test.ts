// The decoder on golden records captured from a real kernel
// (test/golden/*.batch: one loader batch frame payload, reviewed by hand).
// scripts/capture-golden.mjs captures them again after struct rst_event changes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRecords } from '../agent/event-decoder.js';
import { formatTimestamp } from '../proto/timestamps.js';
import { formatAddress } from '../agent/ip-address.js';
import { tcpFlagsName } from '../agent/kernel-names.js';
import { parseBatchHeader } from '../agent/loader-frames.js';
import { RST_EVENT_LAYOUT as L } from '../agent/event-layout.js';

const golden = (name: string) => join(import.meta.dirname, 'golden', name);

describe('decoder', () => {
  it('decodes a captured closed-port batch (sent NO_SOCKET + received in SYN_SENT)', () => {
    const payload = readFileSync(golden('closed-port-loopback.batch'));
    const { realtimeOffsetNs, recordsAt } = parseBatchHeader(payload);
    const events = decodeRecords(payload, recordsAt, realtimeOffsetNs, {
      host: 'golden-host',
      bootId: 'golden-boot',
      rstReasons: { 1: 'NO_SOCKET' },
      dropReasons: {},
    });
    expect(events).toEqual(JSON.parse(readFileSync(golden('closed-port-loopback.json'), 'utf8')));
  });

  it('ignores a trailing partial record', () => {
    const payload = readFileSync(golden('closed-port-loopback.batch'));
    const cut = payload.subarray(0, payload.length - 1);
    const ctx = { host: 'h', bootId: 'b', rstReasons: {}, dropReasons: {} };
    expect(decodeRecords(cut, 8, 0n, ctx)).toHaveLength(1);
  });

  it('keeps all nine digits of the kernel time', () => {
    expect(formatTimestamp(1_795_292_756_728_123_456n)).toBe('2026-11-21T20:25:56.728123456Z');
    expect(formatTimestamp(1_000_000_007n)).toBe('1970-01-01T00:00:01.000000007Z');
  });

  it('writes addresses as people do', () => {
    const v4 = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 2]);
    expect(formatAddress(v4)).toBe('10.1.0.2');
    const v6 = new Uint8Array(16);
    v6.set([0xfd, 0x00, 0, 1], 0);
    v6[15] = 2;
    expect(formatAddress(v6)).toBe('fd00:1::2');
    expect(formatAddress(new Uint8Array(16))).toBe('::');
    const noRun = Uint8Array.from({ length: 16 }, (_, i) => (i % 2 ? 1 : 0));
    expect(formatAddress(noRun)).toBe('1:1:1:1:1:1:1:1');
    // RFC 5952: the longest run of zeros is shortened, a single zero group is not.
    const two = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(formatAddress(two)).toBe('2001:db8:0:1::1');
  });

  it('reads fields in place at any offset: a full comm, 64-bit values past 2^53', () => {
    const payload = readFileSync(golden('closed-port-loopback.batch'));
    const { recordsAt } = parseBatchHeader(payload);
    // The first record behind 3 bytes of padding: nothing may assume alignment.
    const at = 3;
    const buf = Buffer.alloc(at + 200);
    payload.copy(buf, at, recordsAt, recordsAt + 200);
    buf.write('sixteen-chars-ab', at + L.comm.offset, 'latin1');
    buf.writeBigUInt64LE(18_446_744_073_709_551_615n, at + L.sock_cookie.offset);
    buf.writeBigUInt64LE(9_007_199_254_740_993n, at + L.cgroup_id.offset);
    buf.writeBigUInt64LE(9_007_199_254_740_991n, at + L.bytes_acked.offset);
    buf.writeBigUInt64LE(4_294_967_296n, at + L.bytes_received.offset);
    const ctx = { host: 'h', bootId: 'b', rstReasons: {}, dropReasons: {} };
    const [event] = decodeRecords(buf, at, 0n, ctx);
    expect(event).toMatchObject({
      comm: 'sixteen-chars-ab',
      sock_cookie: '18446744073709551615',
      cgroup_id: '9007199254740993',
      bytes_acked: 9_007_199_254_740_991, // the printed form: numbers
      bytes_received: 4_294_967_296,
    });
    const v6 = Buffer.alloc(21);
    v6.set([0xfd, 0x00, 0, 1], 5);
    v6[20] = 2;
    expect(formatAddress(v6, 5)).toBe('fd00:1::2');
  });

  it('names TCP flags', () => {
    expect(tcpFlagsName(0x02)).toBe('SYN');
    expect(tcpFlagsName(0x12)).toBe('SYN|ACK');
    expect(tcpFlagsName(0x14)).toBe('ACK|RST');
    expect(tcpFlagsName(0)).toBe('');
    expect(tcpFlagsName(0xff)).toBe('SYN|ACK|FIN|RST|PSH|URG|ECE|CWR');
  });
});
