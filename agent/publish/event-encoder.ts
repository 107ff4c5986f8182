// A ResetEvent encoded straight into a reusable buffer, as the `events` entry
// (field 5) of a ResetBatch: the agent's per-event publishing cost. The bytes
// are protobufjs's own (fields by number; a field without presence left out at
// its default, one with presence written whenever set; map entries in key
// order) without its Long objects, writer forks and keyed property reads;
// test/event-encoder.test.ts holds it to byte equality with the codec, with
// every field set, so a field added to the schema and not here fails there.
import type { WireResetEvent } from '../../proto/index.js';

const EVENTS_FIELD_TAG = (5 << 3) | 2;
/** Room before the message for the tag and its longest length prefix, written after it. */
const HEAD = 6;

export class EventEncoder {
  private buffer = Buffer.allocUnsafe(4096);
  private pos = 0;

  /**
   * The event as a batch's field-5 entry: tag, length, message. A view of this
   * encoder's buffer, valid until the next call: the caller copies it out, and
   * no Buffer is made per event.
   */
  entry(e: WireResetEvent): Buffer {
    this.pos = HEAD;
    this.fixed64(1, e.ts_unix_ns);
    this.string(2, e.direction);
    this.string(3, e.reason);
    this.bool(4, e.accepted);
    this.stringSet(5, e.drop_reason);
    this.string(6, e.state);
    this.string(7, e.prev_state);
    this.string(8, e.family);
    this.string(9, e.local_addr);
    this.uint32(10, e.local_port);
    this.string(11, e.remote_addr);
    this.uint32(12, e.remote_port);
    this.uint32(13, e.netns);
    this.uint64(14, e.sock_cookie);
    this.uint64(15, e.cgroup_id);
    this.uint32(16, e.pid);
    this.uint32(17, e.tid);
    this.string(18, e.comm);
    this.string(19, e.pid_source);
    this.uint64(20, e.bytes_acked);
    this.uint64(21, e.bytes_received);
    this.uint32(22, e.segs_in);
    this.uint32(23, e.segs_out);
    this.uint32(24, e.total_retrans);
    this.uint32(25, e.srtt_us);
    this.uint32(26, e.snd_una);
    this.uint32(27, e.snd_nxt);
    this.uint32(28, e.rcv_nxt);
    this.uint32(29, e.isn_local);
    this.uint32(30, e.isn_remote);
    this.bool(31, e.isn_exact);
    this.uint32(32, e.unread_bytes);
    this.uint32(33, e.unsent_bytes);
    this.bool(34, e.linger_on);
    this.uint32(35, e.linger_s);
    this.uint32Set(36, e.last_sent_ms);
    this.uint32Set(37, e.last_recv_ms);
    this.doubleSet(38, e.conn_age_ms);
    this.stringSet(39, e.trigger_flags);
    this.uint32Set(40, e.trigger_seq);
    this.uint32Set(41, e.trigger_ack);
    this.uint32Set(42, e.rst_ttl);
    this.uint32Set(43, e.rst_ip_id);
    this.uint32Set(44, e.rst_seq);
    this.uint32Set(45, e.rst_ack);
    this.uint32Set(46, e.rst_window);
    this.uint32Set(47, e.peer_ttl);
    this.uint32Set(48, e.survived_idle_ms);
    this.string(49, e.pod_uid);
    this.string(50, e.pod_name);
    this.string(51, e.pod_namespace);
    this.string(52, e.container_name);
    this.string(53, e.container_id);
    this.string(54, e.workload);
    this.map(55, e.pod_labels);
    this.string(56, e.pod_source);
    const length = this.pos - HEAD;
    const start = HEAD - 1 - varintSize(length);
    this.buffer[start] = EVENTS_FIELD_TAG;
    writeVarint(this.buffer, start + 1, length);
    return this.buffer.subarray(start, this.pos);
  }

  private string(id: number, value: string | undefined): void {
    if (value === undefined || value === '') return;
    this.stringSet(id, value);
  }

  private stringSet(id: number, value: string | undefined): void {
    if (value === undefined) return;
    this.varint((id << 3) | 2);
    this.text(value);
  }

  private bool(id: number, value: boolean | undefined): void {
    if (value === undefined || value === false) return;
    this.varint(id << 3);
    this.varint(value ? 1 : 0);
  }

  private uint32(id: number, value: number | undefined): void {
    if (value === undefined || value === 0) return;
    this.uint32Set(id, value);
  }

  private uint32Set(id: number, value: number | undefined): void {
    if (value === undefined) return;
    this.varint(id << 3);
    this.varint(value >>> 0);
  }

  /** protobufjs tests a 64-bit field with `!== 0`, so the text "0" is written: kept, for equal bytes. */
  private uint64(id: number, value: string | number | undefined): void {
    if (value === undefined || value === 0) return;
    this.varint(id << 3);
    const low = uint64Halves(value);
    if (halfHigh === 0) return this.varint(low);
    this.room(10);
    const b = this.buffer;
    let lo = low;
    let hi = halfHigh;
    while (hi !== 0 || lo > 0x7f) {
      b[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[this.pos++] = lo;
  }

  private fixed64(id: number, value: string | number | undefined): void {
    if (value === undefined || value === 0) return;
    this.varint((id << 3) | 1);
    const low = uint64Halves(value);
    this.room(8);
    this.buffer.writeUInt32LE(low, this.pos);
    this.buffer.writeUInt32LE(halfHigh, this.pos + 4);
    this.pos += 8;
  }

  private doubleSet(id: number, value: number | undefined): void {
    if (value === undefined) return;
    this.varint((id << 3) | 1);
    this.room(8);
    this.buffer.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  private map(id: number, value: Record<string, string> | undefined): void {
    if (value === undefined) return;
    for (const key of Object.keys(value)) {
      const text = value[key]!;
      const keyBytes = Buffer.byteLength(key);
      const textBytes = Buffer.byteLength(text);
      this.varint((id << 3) | 2);
      this.varint(2 + varintSize(keyBytes) + keyBytes + varintSize(textBytes) + textBytes);
      this.varint(0x0a);
      this.text(key);
      this.varint(0x12);
      this.text(text);
    }
  }

  private room(n: number): void {
    if (this.pos + n <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.pos + n));
    this.buffer.copy(grown, 0, 0, this.pos);
    this.buffer = grown;
  }

  private varint(value: number): void {
    this.room(5);
    this.pos = writeVarint(this.buffer, this.pos, value);
  }

  /** Length-prefixed UTF-8. Short ASCII (most of it) by hand: Buffer.write costs more per call. */
  private text(value: string): void {
    const n = value.length;
    if (n < 0x80) {
      this.room(n + 1);
      const b = this.buffer;
      const start = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        b[start + i] = c;
      }
      if (i === n) {
        b[this.pos] = n;
        this.pos = start + n;
        return;
      }
    }
    const bytes = Buffer.byteLength(value);
    this.varint(bytes);
    this.room(bytes);
    this.pos += this.buffer.write(value, this.pos, 'utf8');
  }
}

/** The high half of the last uint64Halves (module state: no array per value). */
let halfHigh = 0;

/** A uint64 given as decimal text (or a safe number): returns its low half, sets halfHigh. */
function uint64Halves(value: string | number): number {
  if (typeof value === 'number' || value.length <= 15) {
    const n = Number(value);
    if (Number.isSafeInteger(n) && n >= 0) {
      halfHigh = Math.floor(n / 0x1_0000_0000);
      return n % 0x1_0000_0000;
    }
  }
  const n = BigInt.asUintN(64, BigInt(value));
  halfHigh = Number(n >> 32n);
  return Number(n & 0xffff_ffffn);
}

function varintSize(value: number): number {
  let size = 1;
  for (let v = value; v > 0x7f; v >>>= 7) size += 1;
  return size;
}

function writeVarint(buffer: Buffer, at: number, value: number): number {
  let pos = at;
  let v = value >>> 0;
  while (v > 0x7f) {
    buffer[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buffer[pos++] = v;
  return pos;
}
