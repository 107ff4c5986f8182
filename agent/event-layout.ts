// Byte layout of struct rst_event (bpf/rstscope.h). test/event-layout.test.ts
// proves every offset and size here against the BTF of the compiled object.

export type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'addr16' | 'comm16';

export interface FieldLayout {
  readonly offset: number;
  readonly kind: FieldKind;
}

export const FIELD_SIZE: Record<FieldKind, number> = {
  u8: 1,
  u16: 2,
  u32: 4,
  u64: 8,
  addr16: 16,
  comm16: 16,
};

export const RST_EVENT_LAYOUT = {
  ts_boot_ns: { offset: 0, kind: 'u64' },
  sock_cookie: { offset: 8, kind: 'u64' },
  cgroup_id: { offset: 16, kind: 'u64' },
  bytes_acked: { offset: 24, kind: 'u64' },
  bytes_received: { offset: 32, kind: 'u64' },
  conn_age_ns: { offset: 40, kind: 'u64' },
  local_addr: { offset: 48, kind: 'addr16' },
  remote_addr: { offset: 64, kind: 'addr16' },
  netns: { offset: 80, kind: 'u32' },
  pid: { offset: 84, kind: 'u32' },
  tid: { offset: 88, kind: 'u32' },
  segs_in: { offset: 92, kind: 'u32' },
  segs_out: { offset: 96, kind: 'u32' },
  total_retrans: { offset: 100, kind: 'u32' },
  srtt_us: { offset: 104, kind: 'u32' },
  snd_una: { offset: 108, kind: 'u32' },
  snd_nxt: { offset: 112, kind: 'u32' },
  rcv_nxt: { offset: 116, kind: 'u32' },
  isn_local: { offset: 120, kind: 'u32' },
  isn_remote: { offset: 124, kind: 'u32' },
  unread_bytes: { offset: 128, kind: 'u32' },
  unsent_bytes: { offset: 132, kind: 'u32' },
  linger_s: { offset: 136, kind: 'u32' },
  last_sent_ms: { offset: 140, kind: 'u32' },
  last_recv_ms: { offset: 144, kind: 'u32' },
  survived_idle_ms: { offset: 148, kind: 'u32' },
  pkt_seq: { offset: 152, kind: 'u32' },
  pkt_ack: { offset: 156, kind: 'u32' },
  drop_reason: { offset: 160, kind: 'u32' },
  local_port: { offset: 164, kind: 'u16' },
  remote_port: { offset: 166, kind: 'u16' },
  family: { offset: 168, kind: 'u16' },
  reason: { offset: 170, kind: 'u16' },
  pkt_window: { offset: 172, kind: 'u16' },
  pkt_ip_id: { offset: 174, kind: 'u16' },
  direction: { offset: 176, kind: 'u8' },
  state: { offset: 177, kind: 'u8' },
  prev_state: { offset: 178, kind: 'u8' },
  pkt_flags: { offset: 179, kind: 'u8' },
  pkt_ttl: { offset: 180, kind: 'u8' },
  peer_ttl: { offset: 181, kind: 'u8' },
  pid_source: { offset: 182, kind: 'u8' },
  flags: { offset: 183, kind: 'u8' },
  comm: { offset: 184, kind: 'comm16' },
} as const satisfies Record<string, FieldLayout>;

export const RST_EVENT_SIZE = 200;

/* Constants of bpf/rstscope.h */
export const RST_DIR_SENT = 1;
export const RST_DIR_RECEIVED = 2;
export const RST_REASON_UNKNOWN = 0xffff;
export const RST_UNKNOWN_U32 = 0xffffffff;
export const RST_F_ACCEPTED = 1 << 0;
export const RST_F_FULL_SOCK = 1 << 1;
export const RST_F_LINGER_ON = 1 << 2;
export const RST_F_PACKET = 1 << 3;
export const RST_F_ISN_EXACT = 1 << 4;
export const RST_F_HAS_SOCKET = 1 << 5;
export const RST_PID_CONTEXT = 1;
export const RST_PID_OWNER = 2;
