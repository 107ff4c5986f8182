// SPDX-License-Identifier: GPL-2.0
/*
 * rstscope kernel side: one record per TCP reset the kernel sends or
 * receives, with the kernel's reason and the socket's state at that instant.
 *
 * tcp_send_reset and tcp_receive_reset carry the socket but not everything a
 * diagnosis needs, and this kernel has neither fentry nor kprobes, so the rest
 * comes from other tracepoints:
 *   inet_sock_set_state   previous state, connection start, exact ISNs, owner
 *   sock_{send,recv}_length  the process that owns a socket (process context)
 *   tcp_probe             the TTL of the peer's ordinary segments, and the
 *                         longest silence between two of them
 *   netif_receive_skb     the RST packet itself (TTL, IP ID, seq, ack, window),
 *                         before TCP looks at it: tcp_receive_reset has no skb
 *   kfree_skb             RSTs that TCP discarded (out of window, RFC 5961)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "rstscope.h"

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6
#define TCPHDR_RST 0x04

#define PF_KTHREAD 0x00200000

/* Set by the loader from the running kernel's BTF before load. */
const volatile bool has_rst_reason = false;     /* tcp_send_reset(sk, skb, reason): 6.10+ */
const volatile bool has_send_reset_skb = false; /* tcp_send_reset(sk, skb): 5.14+ */
const volatile bool has_kfree_skb_reason = false; /* kfree_skb(skb, loc, reason): 5.17+ */
const volatile bool has_kfree_skb_rx_sk = false;  /* kfree_skb(..., rx_sk): 6.12+ */
const volatile bool filter_netns = false;
/* Unread bytes in the ring buffer above which resets are summed into storm
 * aggregates instead of recorded one by one: 3/4 of its size (the loader sets
 * it; this is 3/4 of the default 8 MiB). A burst that fits in 3/4 of the ring
 * (~30k resets at 8 MiB, ~3.8k at 1 MiB) waiting for a busy reader is still
 * recorded one by one; past that the reader is that far behind, and the rest
 * of the ring is better kept free than filled to the last byte, where every
 * reserve fails and records and sums alternate at random. */
const volatile __u64 aggregate_above_bytes = 6 << 20;
/* New aggregate keys with their remote kept, per drain; the other slots of the
 * map (the loader keeps 1/16 of them) take sums with the remote left out, one
 * per (netns, direction, reason, family). A flood from ever-changing source
 * ports or networks (the usual SYN flood) would otherwise fill the map with
 * one-reset keys and lose the rest; this way it is still counted. */
const volatile __u32 aggregate_remote_keys = 4096 - 256;
/* Only for the loader's self-test of its verifier-failure report. */
const volatile bool break_verifier = false;

extern unsigned int CONFIG_HZ __kconfig;

/* Keeps struct rst_event in the object's BTF, where the layout test reads it. */
struct rst_event *unused_rst_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the loader */
} rst_events SEC(".maps");

/* Exact counts per (netns, direction, reason): they stay right when the ring
 * buffer overflows. Bounded: a full map is itself counted. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rst_count_key);
	__type(value, __u64);
} rst_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RST_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} rst_stats SEC(".maps");

/* Storm aggregates: two maps, one written by the programs (the one in
 * rst_aggs[0]), one drained by the loader. The loader swaps them before it
 * drains; replacing an element of a map-in-map waits for every running
 * program (synchronize_rcu), so the drained map has no writer left and its
 * sums are exact. Bounded: a full map turns further new keys into losses. */
struct rst_agg_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096); /* resized by the loader (--aggregate-slots) */
	__type(key, struct rst_agg_key);
	__type(value, struct rst_agg);
} rst_aggs_a SEC(".maps"), rst_aggs_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct rst_agg_map);
} rst_aggs SEC(".maps") = {
	.values = { [0] = &rst_aggs_a },
};

/* Namespaces this agent covers when filter_netns is set (--netns). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} netns_allowed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cpu_in_softirq SEC(".maps");

/* What a socket's own tracepoints learned earlier; freed with the socket. */
struct sock_info {
	__u64 start_ns;
	/* In jiffies, not ns: a clock read per segment was most of tcp_probe's
	 * cost, and ms at one tick's resolution is what last_recv_ms has too. */
	__u64 last_seg_jiffies; /* when the last ordinary segment arrived */
	__u32 max_gap_jiffies;  /* longest gap between two of them */
	__u32 owner_pid;
	__u32 owner_tid;
	__u32 isn_local;
	__u32 isn_remote;
	char owner_comm[RST_COMM_LEN];
	__u8 prev_state;
	__u8 peer_ttl;
	__u8 isn_known;
	__u8 segs_seen; /* ordinary segments received, counted up to 2 */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_info);
} sock_infos SEC(".maps");

/* A received RST as the device saw it, as this host's tuple. */
struct flow_key {
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u32 netns;
	__u16 local_port;
	__u16 remote_port;
};

struct rst_packet {
	__u32 seq;
	__u32 ack;
	__u16 window;
	__u16 ip_id;
	__u8 ttl;
	__u8 flags;
	__u8 __pad[2];
};

/* RST packets seen by netif_receive_skb, waiting for TCP's verdict. LRU, so a
 * flood of RSTs to unknown flows evicts rather than grows. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct flow_key);
	__type(value, struct rst_packet);
} rst_packets SEC(".maps");

/* Parsed IP + TCP header of one segment. */
struct segment {
	struct flow_key key; /* local = destination of the segment */
	struct rst_packet pkt;
	__u16 family;
};

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&rst_stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline bool netns_admitted(__u32 netns)
{
	if (!filter_netns)
		return true;
	return bpf_map_lookup_elem(&netns_allowed, &netns) != NULL;
}

static __always_inline void count_event(__u32 netns, __u8 dir, __u16 reason, __u8 accepted)
{
	struct rst_count_key key = {
		.netns = netns, .reason = reason, .direction = dir, .accepted = accepted
	};
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(&rst_counts, &key);
	if (v) {
		*v += 1;
		return;
	}
	if (bpf_map_update_elem(&rst_counts, &key, &one, BPF_NOEXIST)) {
		/* Lost a race with another CPU's insert, or the map is full. */
		v = bpf_map_lookup_elem(&rst_counts, &key);
		if (v)
			*v += 1;
		else
			stat_inc(RST_STAT_COUNT_OVERFLOW);
	}
}

static __always_inline void map_v4(__u8 *dst, __u32 addr_be)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr_be, 4);
}

/* Whether the current CPU is running a softirq handler (set by softirq_entry
 * and softirq_exit below). preempt_count() would say so directly, but its
 * per-CPU address is not in kallsyms without CONFIG_KALLSYMS_ALL. */
static __always_inline bool in_process_context(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 zero = 0, *in_softirq = bpf_map_lookup_elem(&cpu_in_softirq, &zero);

	if (!in_softirq || *in_softirq)
		return false;
	/* Threaded NAPI and other kernel threads act for no process. */
	return task->pid && !(task->flags & PF_KTHREAD);
}

/* Parse the IPv4/IPv6 + TCP header at ip. Returns false if it is not TCP.
 * IPv6 extension headers are not walked: an RST never carries them in practice. */
static __always_inline bool parse_segment(const unsigned char *ip, __u16 eth_proto,
					  struct segment *seg)
{
	const unsigned char *th;
	__u8 b[40];
	__u8 proto;
	__u32 v;

	if (eth_proto == ETH_P_IP) {
		if (bpf_probe_read_kernel(b, 20, ip))
			return false;
		proto = b[9];
		if (proto != IPPROTO_TCP)
			return false;
		seg->family = AF_INET;
		seg->pkt.ttl = b[8];
		seg->pkt.ip_id = ((__u16)b[4] << 8) | b[5];
		__builtin_memcpy(&v, b + 16, 4);
		map_v4(seg->key.local_addr, v);
		__builtin_memcpy(&v, b + 12, 4);
		map_v4(seg->key.remote_addr, v);
		th = ip + (b[0] & 0x0f) * 4;
	} else if (eth_proto == ETH_P_IPV6) {
		if (bpf_probe_read_kernel(b, 40, ip))
			return false;
		if (b[6] != IPPROTO_TCP)
			return false;
		seg->family = AF_INET6;
		seg->pkt.ttl = b[7];
		seg->pkt.ip_id = 0;
		__builtin_memcpy(seg->key.remote_addr, b + 8, 16);
		__builtin_memcpy(seg->key.local_addr, b + 24, 16);
		th = ip + 40;
	} else {
		return false;
	}
	if (bpf_probe_read_kernel(b, 20, th))
		return false;
	seg->key.remote_port = ((__u16)b[0] << 8) | b[1];
	seg->key.local_port = ((__u16)b[2] << 8) | b[3];
	seg->pkt.seq = ((__u32)b[4] << 24) | ((__u32)b[5] << 16) | ((__u32)b[6] << 8) | b[7];
	seg->pkt.ack = ((__u32)b[8] << 24) | ((__u32)b[9] << 16) | ((__u32)b[10] << 8) | b[11];
	seg->pkt.flags = b[13];
	seg->pkt.window = ((__u16)b[14] << 8) | b[15];
	return true;
}

/* Whether the packet whose network header is at ip is a TCP RST, with one
 * copy of the headers up to the TCP flags (two only for IPv4 options): nearly
 * every packet leaves here. (bpf_rdonly_cast would need no copy, but 6.2.) */
static __always_inline bool is_tcp_rst(const unsigned char *ip, __u16 eth_proto)
{
	__u8 b[54], flags, ihl;

	if (eth_proto == ETH_P_IP) {
		if (bpf_probe_read_kernel(b, 34, ip) || b[9] != IPPROTO_TCP)
			return false;
		ihl = (b[0] & 0x0f) * 4;
		if (ihl == 20)
			flags = b[33];
		else if (bpf_probe_read_kernel(&flags, 1, ip + ihl + 13))
			return false;
	} else if (eth_proto == ETH_P_IPV6) {
		if (bpf_probe_read_kernel(b, 54, ip) || b[6] != IPPROTO_TCP)
			return false;
		flags = b[53];
	} else {
		return false;
	}
	return flags & TCPHDR_RST;
}

/* Headers of an skb whose network and transport headers are set (TCP layer). */
static __always_inline bool parse_skb(const struct sk_buff *skb, struct segment *seg)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));

	return parse_segment(head + nh, proto, seg);
}

static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* Whether a socket lives in a namespace the agent covers. The socket tracking
 * programs ask first, so that sockets the agent will never report on get no
 * storage; with no filter it costs nothing. */
static __always_inline bool sock_admitted(const struct sock *sk)
{
	return !filter_netns || netns_admitted(sk_netns(sk));
}

static __always_inline __u32 skb_netns(const struct sk_buff *skb)
{
	return BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
}

/* The socket's tuple as this host sees it. */
static __always_inline void flow_key_from_sock(struct flow_key *k, const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);

	k->netns = sk_netns(sk);
	k->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	/* tcp_set_state(TCP_CLOSE) unhashes the socket and zeroes inet_num
	 * before close() sends its reset; inet_sport keeps the port. */
	if (!k->local_port && state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV)
		k->local_port = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	k->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		map_v4(k->local_addr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		map_v4(k->remote_addr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
	} else {
		BPF_CORE_READ_INTO(&k->local_addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&k->remote_addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

/* The tuple of a segment when no socket stands behind the event. */
static __always_inline void fill_addrs_from_segment(struct rst_event *e, const struct segment *seg,
						    __u32 netns)
{
	e->netns = netns;
	e->family = seg->family;
	__builtin_memcpy(e->local_addr, seg->key.local_addr, 16);
	__builtin_memcpy(e->remote_addr, seg->key.remote_addr, 16);
	e->local_port = seg->key.local_port;
	e->remote_port = seg->key.remote_port;
}

static __always_inline void fill_addrs_from_sock(struct rst_event *e, const struct sock *sk)
{
	struct flow_key k = {};

	flow_key_from_sock(&k, sk);
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->local_port = k.local_port;
	e->remote_port = k.remote_port;
	__builtin_memcpy(e->local_addr, k.local_addr, 16);
	__builtin_memcpy(e->remote_addr, k.remote_addr, 16);
}

static __always_inline __u32 jiffies_to_ms(__u32 delta)
{
	return (__u64)delta * 1000 / CONFIG_HZ;
}

static __always_inline bool is_full_tcp_sock(const struct sock *sk, __u8 state)
{
	/* Request and timewait sockets share sock_common only. */
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		return false;
	return BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP;
}

static __always_inline struct sock_info *sock_info_get(const struct sock *sk, bool create)
{
	return bpf_sk_storage_get(&sock_infos, (void *)sk, 0,
				  create ? BPF_SK_STORAGE_GET_F_CREATE : 0);
}

static __always_inline void note_owner(struct sock_info *si)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (si->owner_tid == (__u32)id)
		return;
	si->owner_pid = id >> 32;
	si->owner_tid = (__u32)id;
	bpf_get_current_comm(si->owner_comm, sizeof(si->owner_comm));
}

/* Socket state at the reset: counters, sequence space, queues, timers. */
static __always_inline void fill_tcp_state(struct rst_event *e, const struct sock *sk,
					   const struct sock_info *si)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u32 now = (__u32)bpf_jiffies64();
	__u32 copied_seq, write_seq, lrcv, ldata, lsnd;
	unsigned long sk_flags;

	e->flags |= RST_F_FULL_SOCK;
	e->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	e->bytes_received = BPF_CORE_READ(tp, bytes_received);
	e->segs_in = BPF_CORE_READ(tp, segs_in);
	e->segs_out = BPF_CORE_READ(tp, segs_out);
	e->total_retrans = BPF_CORE_READ(tp, total_retrans);
	e->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	e->snd_una = BPF_CORE_READ(tp, snd_una);
	e->snd_nxt = BPF_CORE_READ(tp, snd_nxt);
	e->rcv_nxt = BPF_CORE_READ(tp, rcv_nxt);
	copied_seq = BPF_CORE_READ(tp, copied_seq);
	write_seq = BPF_CORE_READ(tp, write_seq);
	sk_flags = BPF_CORE_READ(sk, __sk_common.skc_flags);
	e->unread_bytes = e->rcv_nxt - copied_seq;
	/* A received FIN (SOCK_DONE) advances rcv_nxt but is no data the
	 * application lost. (close() sets RCV_SHUTDOWN itself: no help here.) */
	if ((sk_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))) &&
	    e->unread_bytes > 0)
		e->unread_bytes -= 1;
	e->unsent_bytes = write_seq - e->snd_nxt;

	if (sk_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_LINGER))) {
		e->flags |= RST_F_LINGER_ON;
		e->linger_s = BPF_CORE_READ(sk, sk_lingertime) / CONFIG_HZ;
	}

	lsnd = BPF_CORE_READ(tp, lsndtime);
	e->last_sent_ms = lsnd ? jiffies_to_ms(now - lsnd) : RST_UNKNOWN_U32;
	lrcv = BPF_CORE_READ(tp, rcv_tstamp);
	ldata = BPF_CORE_READ(tp, inet_conn.icsk_ack.lrcvtime);
	if ((__s32)(ldata - lrcv) > 0)
		lrcv = ldata;
	e->last_recv_ms = lrcv ? jiffies_to_ms(now - lrcv) : RST_UNKNOWN_U32;

	if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_SYN_SENT) {
		/* Only our SYN is out: snd_una is still our ISN; the peer's is unknown. */
		e->flags |= RST_F_ISN_EXACT;
		e->isn_local = e->snd_una;
		e->isn_remote = 0;
	} else if (si && si->isn_known) {
		e->flags |= RST_F_ISN_EXACT;
		e->isn_local = si->isn_local;
		e->isn_remote = si->isn_remote;
	} else {
		/* A socket older than the agent: bytes_received counts from the byte
		 * after the peer's SYN; bytes_acked does too on the passive side but
		 * includes our SYN on the active side, so isn_local may be one low. */
		e->isn_local = e->snd_una - (__u32)e->bytes_acked - 1;
		e->isn_remote = e->rcv_nxt - (__u32)e->bytes_received - 1;
	}
}

static __always_inline void fill_process(struct rst_event *e, const struct sock_info *si)
{
	__u64 id;

	if (in_process_context()) {
		id = bpf_get_current_pid_tgid();
		e->pid = id >> 32;
		e->tid = (__u32)id;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		e->pid_source = RST_PID_CONTEXT;
	} else if (si && si->owner_tid) {
		e->pid = si->owner_pid;
		e->tid = si->owner_tid;
		__builtin_memcpy(e->comm, si->owner_comm, sizeof(e->comm));
		e->pid_source = RST_PID_OWNER;
	}
}

/* Everything a socket can tell, for sent and received resets alike. */
static __always_inline void fill_from_sock(struct rst_event *e, const struct sock *sk)
{
	struct sock_info *si = NULL;
	__u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);
	struct cgroup *cg;

	e->flags |= RST_F_HAS_SOCKET;
	e->state = state;
	e->netns = sk_netns(sk);
	e->sock_cookie = bpf_get_socket_cookie((void *)sk);
	fill_addrs_from_sock(e, sk);
	if (is_full_tcp_sock(sk, state)) {
		si = sock_info_get(sk, false);
		fill_tcp_state(e, sk, si);
		cg = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
		if (cg)
			e->cgroup_id = BPF_CORE_READ(cg, kn, id);
	}
	if (si) {
		e->prev_state = si->prev_state;
		e->peer_ttl = si->peer_ttl;
		/* Milliseconds here, once per reset, not per segment. Kept below
		 * RST_UNKNOWN_U32: 49 days of silence and more read as just under. */
		if (si->segs_seen >= 2) {
			__u64 ms = (__u64)si->max_gap_jiffies * 1000 / CONFIG_HZ;

			e->survived_idle_ms = ms < RST_UNKNOWN_U32 ? ms : RST_UNKNOWN_U32 - 1;
		}
		if (si->start_ns)
			e->conn_age_ns = e->ts_boot_ns - si->start_ns;
	}
	fill_process(e, si);
	if (!e->cgroup_id && e->pid_source == RST_PID_CONTEXT)
		e->cgroup_id = bpf_get_current_cgroup_id();
}

static __always_inline void fill_packet(struct rst_event *e, const struct rst_packet *p)
{
	e->flags |= RST_F_PACKET;
	e->pkt_seq = p->seq;
	e->pkt_ack = p->ack;
	e->pkt_window = p->window;
	e->pkt_ip_id = p->ip_id;
	e->pkt_ttl = p->ttl;
	e->pkt_flags = p->flags;
}

/* Sums a reset into the storm aggregate of its (netns, direction, reason,
 * remote port, remote /24 or /64); without a free slot it is lost, counted. The
 * remote end comes from the socket when there is one, else from the segment. */
static __always_inline void aggregate_event(__u32 netns, __u8 dir, __u16 reason,
					    const struct sock *sk, const struct segment *seg)
{
	struct rst_agg_key key = { .netns = netns, .reason = reason, .direction = dir };
	__u64 now = bpf_ktime_get_boot_ns();
	struct rst_agg fresh = { .first_ns = now, .last_ns = now, .resets = 1 };
	struct rst_agg none = {};
	struct rst_agg_key fill_key = {}; /* direction 0: the map's count of keys tried */
	struct flow_key k = {};
	struct rst_agg *a, *fill;
	__u32 zero = 0;
	void *aggs;

	if (sk) {
		flow_key_from_sock(&k, sk);
		__builtin_memcpy(key.remote_net, k.remote_addr, 16);
		key.remote_port = k.remote_port;
	} else if (seg) {
		__builtin_memcpy(key.remote_net, seg->key.remote_addr, 16);
		key.remote_port = seg->key.remote_port;
	}
	/* A dual-stack socket's IPv4 peer is v4-mapped: a /24, not a /64. */
	if (!key.remote_net[0] && !key.remote_net[1] && !key.remote_net[2] && !key.remote_net[3] &&
	    !key.remote_net[4] && !key.remote_net[5] && !key.remote_net[6] && !key.remote_net[7] &&
	    !key.remote_net[8] && !key.remote_net[9] && key.remote_net[10] == 0xff &&
	    key.remote_net[11] == 0xff) {
		key.family = AF_INET;
		key.remote_net[15] = 0;
	} else {
		key.family = AF_INET6;
		__builtin_memset(key.remote_net + 8, 0, 8);
	}

	aggs = bpf_map_lookup_elem(&rst_aggs, &zero);
	if (!aggs)
		goto lost;
	a = bpf_map_lookup_elem(aggs, &key);
	if (!a) {
		fill = bpf_map_lookup_elem(aggs, &fill_key);
		if (!fill) {
			bpf_map_update_elem(aggs, &fill_key, &none, BPF_NOEXIST);
			fill = bpf_map_lookup_elem(aggs, &fill_key);
		}
		if (!fill || __sync_fetch_and_add(&fill->resets, 1) >= aggregate_remote_keys) {
			__builtin_memset(key.remote_net, 0, 16);
			key.remote_port = 0;
			key.merged = 1;
			a = bpf_map_lookup_elem(aggs, &key);
		}
	}
	if (!a) {
		if (!bpf_map_update_elem(aggs, &key, &fresh, BPF_NOEXIST)) {
			stat_inc(RST_STAT_AGGREGATED);
			return;
		}
		/* Another CPU inserted it first, or the map is full. */
		a = bpf_map_lookup_elem(aggs, &key);
		if (!a)
			goto lost;
	}
	__sync_fetch_and_add(&a->resets, 1);
	/* Racy between CPUs, and harmless: a time off by the width of the race. */
	if (now > a->last_ns)
		a->last_ns = now;
	stat_inc(RST_STAT_AGGREGATED);
	return;
lost:
	stat_inc(RST_STAT_LOST);
}

/* The record to fill for one reset, or NULL when the reset was summed into a
 * storm aggregate (the ring buffer is filling, or has no room) or lost. */
static __always_inline struct rst_event *reserve_event(__u32 netns, __u8 dir, __u16 reason,
						       __u8 accepted, const struct sock *sk,
						       const struct segment *seg)
{
	struct rst_event *e;

	count_event(netns, dir, reason, accepted);
	if (bpf_ringbuf_query(&rst_events, BPF_RB_AVAIL_DATA) > aggregate_above_bytes) {
		aggregate_event(netns, dir, reason, sk, seg);
		return NULL;
	}
	e = bpf_ringbuf_reserve(&rst_events, sizeof(*e), 0);
	if (!e) {
		aggregate_event(netns, dir, reason, sk, seg);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_boot_ns = bpf_ktime_get_boot_ns();
	e->direction = dir;
	e->reason = reason;
	e->last_sent_ms = RST_UNKNOWN_U32;
	e->last_recv_ms = RST_UNKNOWN_U32;
	e->survived_idle_ms = RST_UNKNOWN_U32;
	if (accepted)
		e->flags |= RST_F_ACCEPTED;
	return e;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_tcp_send_reset, const struct sock *sk)
{
	const struct sk_buff *skb = NULL;
	__u16 reason = RST_REASON_UNKNOWN;
	struct segment seg = {};
	bool have_seg = false;
	struct rst_event *e;
	__u32 netns;

	if (has_send_reset_skb)
		skb = (const struct sk_buff *)ctx[1];
	if (has_rst_reason)
		reason = (__u16)ctx[2];
	if (break_verifier)
		reason = (__u16)ctx[9]; /* past the arguments: the verifier refuses it */

	if (skb)
		have_seg = parse_skb(skb, &seg);
	if (sk)
		netns = sk_netns(sk);
	else if (skb)
		netns = skb_netns(skb);
	else
		return 0;
	if (!netns_admitted(netns))
		return 0;

	e = reserve_event(netns, RST_DIR_SENT, reason, 1, sk, have_seg ? &seg : NULL);
	if (!e)
		return 0;
	if (sk) {
		fill_from_sock(e, sk);
	} else {
		/* NO_SOCKET: the tuple is the triggering segment's, seen from here. */
		fill_addrs_from_segment(e, &seg, netns);
		fill_process(e, NULL);
	}
	if (have_seg)
		fill_packet(e, &seg.pkt);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(on_tcp_receive_reset, struct sock *sk)
{
	struct rst_packet *pkt;
	struct flow_key key = {};
	struct rst_event *e;
	__u8 state;

	flow_key_from_sock(&key, sk);
	if (!netns_admitted(key.netns))
		return 0;
	pkt = bpf_map_lookup_elem(&rst_packets, &key);
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	/* tcp_rcv_state_process() also calls tcp_reset() to kill a socket that
	 * gets data after close (it then sends TCP_ABORT_ON_DATA itself): no RST
	 * arrived, so this is not a received reset. */
	if (!pkt && (state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2)) {
		stat_inc(RST_STAT_SELF_RESET);
		return 0;
	}
	e = reserve_event(key.netns, RST_DIR_RECEIVED, RST_REASON_UNKNOWN, 1, sk, NULL);
	if (e) {
		fill_from_sock(e, sk);
		if (pkt)
			fill_packet(e, pkt);
		bpf_ringbuf_submit(e, 0);
	}
	if (pkt)
		bpf_map_delete_elem(&rst_packets, &key);
	return 0;
}

/* Every packet every device in every namespace receives: keep only TCP RSTs. */
SEC("tp_btf/netif_receive_skb")
int BPF_PROG(on_netif_receive_skb, struct sk_buff *skb)
{
	struct segment seg = {};
	__u16 proto = bpf_ntohs(skb->protocol);
	/* The network header is not reset yet here; data points at it. */
	unsigned char *ip = skb->data;

	if (!is_tcp_rst(ip, proto))
		return 0;
	if (!parse_segment(ip, proto, &seg))
		return 0;
	seg.key.netns = skb_netns(skb);
	if (!netns_admitted(seg.key.netns))
		return 0;
	bpf_map_update_elem(&rst_packets, &seg.key, &seg.pkt, BPF_ANY);
	return 0;
}

/* An RST that TCP looked at and threw away: reported, not accepted. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(on_kfree_skb, struct sk_buff *skb)
{
	struct sock *sk = NULL;
	struct segment seg = {};
	struct rst_event *e;
	__u32 reason;

	if (!has_kfree_skb_reason)
		return 0;
	reason = (__u32)ctx[2];
	if (has_kfree_skb_rx_sk)
		sk = (struct sock *)ctx[3];
	/* Nearly every dropped packet is no RST (a SYN flood to a closed port
	 * drops every SYN here): leave before the copying parse. */
	if (!is_tcp_rst(skb->head + skb->network_header, bpf_ntohs(skb->protocol)))
		return 0;
	if (!parse_skb(skb, &seg))
		return 0;
	seg.key.netns = sk ? sk_netns(sk) : skb_netns(skb);
	if (!netns_admitted(seg.key.netns))
		return 0;
	bpf_map_delete_elem(&rst_packets, &seg.key);

	e = reserve_event(seg.key.netns, RST_DIR_RECEIVED, RST_REASON_UNKNOWN, 0, NULL, &seg);
	if (!e)
		return 0;
	if (sk && BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP) {
		fill_from_sock(e, sk);
	} else {
		fill_addrs_from_segment(e, &seg, seg.key.netns);
	}
	e->drop_reason = reason;
	fill_packet(e, &seg.pkt);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Every segment an established socket receives, before validation: the hot
 * path of the programs. An RST is skipped: it is the kill, not traffic the
 * connection lived through. tcp_rcv_established() runs under the socket lock,
 * so one socket's storage has one writer at a time. */
SEC("tp_btf/tcp_probe")
int BPF_PROG(on_tcp_probe, struct sock *sk, const struct sk_buff *skb)
{
	const unsigned char *ip = skb->head + skb->network_header;
	struct sock_info *si;
	__u64 now, gap;
	__u8 ttl;

	/* TCP has parsed the header into the control block already: a plain
	 * load from the skb, no copy. */
	if (skb->cb[bpf_core_field_offset(struct tcp_skb_cb, tcp_flags)] & TCPHDR_RST)
		return 0;
	if (bpf_probe_read_kernel(&ttl, 1,
				  skb->protocol == bpf_htons(ETH_P_IP) ?
					  ip + bpf_core_field_offset(struct iphdr, ttl) :
					  ip + bpf_core_field_offset(struct ipv6hdr, hop_limit)))
		return 0;
	if (!sock_admitted(sk))
		return 0;
	si = sock_info_get(sk, true);
	if (!si)
		return 0;
	/* Written only when something changes: the sending side reads this
	 * storage on another CPU, and a store per segment would move the cache
	 * line back and forth between them. */
	if (si->peer_ttl != ttl)
		si->peer_ttl = ttl;
	now = bpf_jiffies64();
	if (now == si->last_seg_jiffies && si->segs_seen == 2)
		return 0;
	if (si->segs_seen) {
		gap = now - si->last_seg_jiffies;
		if (gap > si->max_gap_jiffies)
			si->max_gap_jiffies = gap < 0xffffffff ? gap : 0xffffffff;
		si->segs_seen = 2;
	} else {
		si->segs_seen = 1;
	}
	si->last_seg_jiffies = now;
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_inet_sock_set_state, const struct sock *sk, int oldstate, int newstate)
{
	const struct tcp_sock *tp;
	struct sock_info *si;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_CLOSE && oldstate == TCP_LISTEN)
		return 0;
	if (!sock_admitted(sk))
		return 0;
	si = sock_info_get(sk, true);
	if (!si)
		return 0;
	si->prev_state = oldstate;
	if (newstate == TCP_SYN_SENT || newstate == TCP_SYN_RECV)
		si->start_ns = bpf_ktime_get_boot_ns();
	if (newstate == TCP_ESTABLISHED && !si->isn_known) {
		/* Both sides just finished the handshake: snd_una and rcv_nxt
		 * sit exactly one past the two SYNs. */
		tp = (const struct tcp_sock *)sk;
		si->isn_local = BPF_CORE_READ(tp, snd_una) - 1;
		si->isn_remote = BPF_CORE_READ(tp, rcv_nxt) - 1;
		si->isn_known = 1;
	}
	if (in_process_context())
		note_owner(si);
	return 0;
}

static __always_inline void note_owner_of(struct sock *sk)
{
	struct sock_info *si;

	if (!sk || sk->sk_protocol != IPPROTO_TCP)
		return;
	si = sock_info_get(sk, false);
	if (si)
		note_owner(si);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_sock_send_length, struct sock *sk)
{
	note_owner_of(sk);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_sock_recv_length, struct sock *sk)
{
	note_owner_of(sk);
	return 0;
}

/* Softirqs do not nest on one CPU, so a flag is enough. */
SEC("tp_btf/softirq_entry")
int BPF_PROG(on_softirq_entry)
{
	__u32 zero = 0, *flag = bpf_map_lookup_elem(&cpu_in_softirq, &zero);

	if (flag)
		*flag = 1;
	return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(on_softirq_exit)
{
	__u32 zero = 0, *flag = bpf_map_lookup_elem(&cpu_in_softirq, &zero);

	if (flag)
		*flag = 0;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
