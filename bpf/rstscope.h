/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI between the kernel programs (rstscope.bpf.c) and user space.
 *
 * Every struct here is read byte for byte by the TypeScript decoder
 * (agent/event-layout.ts); test/event-layout.test.ts compares both against
 * the BTF of the compiled object. Fixed-width fields, largest first, explicit
 * padding, addresses always as 16 bytes (IPv4 as v4-mapped IPv6).
 */
#ifndef RSTSCOPE_H
#define RSTSCOPE_H

#define RST_COMM_LEN 16

/* rst_event.direction */
#define RST_DIR_SENT 1
#define RST_DIR_RECEIVED 2

/* rst_event.reason when the kernel gives none (tracepoint without reason). */
#define RST_REASON_UNKNOWN 0xffff

/* Duration fields (milliseconds) that could not be measured. */
#define RST_UNKNOWN_U32 0xffffffffu

/* rst_event.flags */
#define RST_F_ACCEPTED (1 << 0)   /* received: the RST tore the connection down */
#define RST_F_FULL_SOCK (1 << 1)  /* tcp_sock fields (bytes, seqs, timers) are valid */
#define RST_F_LINGER_ON (1 << 2)  /* SO_LINGER was on; linger_s holds its time */
#define RST_F_PACKET (1 << 3)     /* pkt_* fields are valid */
#define RST_F_ISN_EXACT (1 << 4)  /* ISNs recorded at the handshake, not derived */
#define RST_F_HAS_SOCKET (1 << 5) /* some socket (full, request or timewait) was involved */

/* rst_event.pid_source */
#define RST_PID_NONE 0
#define RST_PID_CONTEXT 1 /* the reset happened in this process's context */
#define RST_PID_OWNER 2   /* the socket's owner, recorded earlier */

struct rst_event {
	__u64 ts_boot_ns;     /* CLOCK_BOOTTIME of the reset */
	__u64 sock_cookie;    /* 0 without a socket */
	__u64 cgroup_id;      /* cgroup v2 id of the socket, else of the process */
	__u64 bytes_acked;    /* RFC 4898 tcpEStatsAppHCThruOctetsAcked */
	__u64 bytes_received; /* RFC 4898 tcpEStatsAppHCThruOctetsReceived */
	__u64 conn_age_ns;    /* since the socket left CLOSE/LISTEN; 0 = unknown */
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u32 netns;          /* network namespace inode */
	__u32 pid;            /* tgid */
	__u32 tid;
	__u32 segs_in;
	__u32 segs_out;
	__u32 total_retrans;
	__u32 srtt_us;
	__u32 snd_una;
	__u32 snd_nxt;
	__u32 rcv_nxt;
	__u32 isn_local;      /* our initial sequence number */
	__u32 isn_remote;     /* the peer's initial sequence number */
	__u32 unread_bytes;   /* received, not yet read by the application */
	__u32 unsent_bytes;   /* written by the application, not yet sent */
	__u32 linger_s;
	__u32 last_sent_ms;   /* since the last data segment sent; RST_UNKNOWN_U32 */
	__u32 last_recv_ms;   /* since the last segment received; RST_UNKNOWN_U32 */
	__u32 survived_idle_ms; /* longest silence lived through: the largest gap
				 * between two ordinary segments received in
				 * ESTABLISHED; RST_UNKNOWN_U32 below two */
	__u32 pkt_seq;        /* sent: the triggering segment; received: the RST */
	__u32 pkt_ack;
	__u32 drop_reason;    /* enum skb_drop_reason of a discarded received RST */
	__u16 local_port;
	__u16 remote_port;
	__u16 family;         /* AF_INET or AF_INET6 */
	__u16 reason;         /* enum sk_rst_reason, or RST_REASON_UNKNOWN */
	__u16 pkt_window;
	__u16 pkt_ip_id;      /* IPv4 only */
	__u8 direction;       /* RST_DIR_* */
	__u8 state;           /* TCP state at the reset */
	__u8 prev_state;      /* TCP state before it; 0 = unknown */
	__u8 pkt_flags;       /* TCP flags of pkt_* */
	__u8 pkt_ttl;         /* IPv4 TTL or IPv6 hop limit of pkt_* */
	__u8 peer_ttl;        /* TTL of the peer's last ordinary segment; 0 = unknown */
	__u8 pid_source;      /* RST_PID_* */
	__u8 flags;           /* RST_F_* */
	char comm[RST_COMM_LEN];
};

/* Key of the exact per-CPU counters (map rst_counts). */
struct rst_count_key {
	__u32 netns;
	__u16 reason;
	__u8 direction;
	__u8 accepted;
};

/* Key of the storm aggregates (maps rst_aggs_*): the resets the kernel sums
 * instead of recording one by one while the ring buffer is filling. */
struct rst_agg_key {
	__u8 remote_net[16]; /* remote address with the host bits zeroed: /24 for
			      * IPv4 (v4-mapped), /64 for IPv6 */
	__u32 netns;
	__u16 reason;        /* as rst_event.reason */
	__u16 remote_port;
	__u16 family;        /* AF_INET or AF_INET6, from the address itself */
	__u8 direction;      /* RST_DIR_*; 0 in the map's own fill counter */
	__u8 merged;         /* 1: remote left out (remote_net and port 0): the map
			      * was nearly full of keys with a remote */
};

struct rst_agg {
	__u64 first_ns; /* CLOCK_BOOTTIME of the first reset summed here */
	__u64 last_ns;  /* ... and of the last */
	__u64 resets;
};

/* Indexes of the per-CPU stats array (map rst_stats). */
enum rst_stat {
	RST_STAT_LOST = 0,          /* neither ring buffer room nor an aggregate slot:
				     * event counted, nothing delivered */
	RST_STAT_COUNT_OVERFLOW,    /* counter map full: event not in rst_counts */
	RST_STAT_SELF_RESET,        /* tcp_reset() without an RST (abort on data) */
	RST_STAT_AGGREGATED,        /* summed into an rst_agg instead of recorded */
	RST_STAT_MAX,
};

#endif /* RSTSCOPE_H */
