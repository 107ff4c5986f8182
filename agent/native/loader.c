// SPDX-License-Identifier: Apache-2.0
/*
 * rstscope-loader: owns the libbpf objects, drains the ring buffer and hands
 * the agent batches of raw records over its stdout (frames.h). The agent
 * supervises it; see docs/agent.md for why this is a process and not an addon.
 *
 * stdin: 'c' asks for a counters frame now; end of file means stop.
 * Exit codes: 0 stopped, 2 bad usage, 3 kernel unsupported, 4 load failed,
 * 5 attach failed, 6 output closed.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "rstscope.h"
#include "rstscope.skel.h"
#include "frames.h"
#include "kernel-features.h"

#define MAX_NETNS 1024
#define BATCH_BYTES (256 * 1024)
#define COUNTERS_EVERY_NS 1000000000LL
/* At stop, after detaching: programs still running finish well within this. */
#define IN_FLIGHT_WAIT_NS (20 * 1000 * 1000)
/* After a drain that found records, the ring buffer is left to fill this long
 * before the next. While the loader is not reading, the kernel does not wake it
 * for each record, and the agent gets one batch per interval instead of one
 * event per wakeup: at 10k resets/s, 40 batches of 250 rather than 10 000 of 1.
 * A lone reset still goes at once; under load each waits at most this long, a
 * small part of the 1 s latency budget. The default 8 MiB of ring buffer holds
 * the 25 ms of the fastest storm this VM makes (~130k/s, ~0.7 MiB) nine times
 * over before storm aggregation starts at 3/4 full. */
#define DRAIN_PAUSE_MS 25
#define LOG_TAIL_LINES 12
#define DEFAULT_AGGREGATE_SLOTS 4096
#define MAX_AGGREGATE_SLOTS 65536

static volatile sig_atomic_t stopping;
static char batch[sizeof(struct batch_header) + BATCH_BYTES];
static size_t batch_len;

/* libbpf's messages, kept so a load failure can show the verifier's tail. */
static char libbpf_log[256 * 1024];
static size_t libbpf_log_len;
static bool verbose;

static int capture_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int n;

	if (verbose)
		vfprintf(stderr, fmt, ap);
	if (level == LIBBPF_DEBUG)
		return 0;
	if (libbpf_log_len > sizeof(libbpf_log) - 4096)
		libbpf_log_len = 0; /* keep the most recent messages */
	n = vsnprintf(libbpf_log + libbpf_log_len, sizeof(libbpf_log) - libbpf_log_len, fmt, ap);
	if (n > 0)
		libbpf_log_len += (size_t)n < sizeof(libbpf_log) - libbpf_log_len ?
					  (size_t)n :
					  sizeof(libbpf_log) - libbpf_log_len - 1;
	return 0;
}

/* The last lines of the verifier log (or of libbpf's messages without one). */
static void print_log_tail(void)
{
	char *end = libbpf_log + libbpf_log_len, *p = end, *stop;
	int lines = 0;

	stop = strstr(libbpf_log, "-- END PROG LOAD LOG --");
	if (stop) {
		end = stop;
		p = stop;
	}
	while (p > libbpf_log && lines <= LOG_TAIL_LINES)
		if (*--p == '\n')
			lines++;
	if (*p == '\n')
		p++;
	fprintf(stderr, "verifier log (last lines):\n%.*s", (int)(end - p), p);
}

static int write_all(const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int write_frame(__u32 type, const void *payload, __u32 len)
{
	struct frame_header h = { .type = type, .len = len };

	if (write_all(&h, sizeof(h)) || write_all(payload, len))
		return -1;
	return 0;
}

static __s64 now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (__s64)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int flush_batch(void)
{
	struct batch_header *h = (struct batch_header *)batch;
	size_t records = batch_len;

	if (!records)
		return 0;
	h->realtime_offset_ns = now_ns(CLOCK_REALTIME) - now_ns(CLOCK_BOOTTIME);
	batch_len = 0;
	return write_frame(FRAME_BATCH, batch, sizeof(*h) + records);
}

static int on_event(void *ctx, void *data, size_t size)
{
	if (size != sizeof(struct rst_event))
		return 0;
	if (batch_len + size > BATCH_BYTES && flush_batch())
		return -1;
	memcpy(batch + sizeof(struct batch_header) + batch_len, data, size);
	batch_len += size;
	return 0;
}

/* The two storm-aggregate maps: `active` is the one rst_aggs[0] points to. */
struct aggregates {
	int outer_fd;
	int fds[2];
	int active;
	__u32 slots;
	struct rst_agg_key *keys;
	struct rst_agg *values;
	struct aggregate_entry *entries;
};

/* Empties one aggregate map nobody writes any more into d->entries; returns how
 * many. Batch lookup-and-delete where the kernel has it (5.6+), else one by one. */
static __u32 empty_map(struct aggregates *d, int fd)
{
	__u32 n = 0, kept = 0, batch_token[8], *in = NULL;
	bool batched = true;

	/* The batch token of a hash map is a bucket index; 32 bytes hold any. */
	while (n < d->slots) {
		__u32 count = d->slots - n;
		int err;

		err = bpf_map_lookup_and_delete_batch(fd, in, batch_token, d->keys + n,
						      d->values + n, &count, NULL);
		if (err && errno != ENOENT) {
			batched = false; /* EINVAL on old kernels, ENOSPC on a crowded bucket */
			break;
		}
		n += count;
		if (err)
			break; /* ENOENT: that was the last bucket */
		in = batch_token;
	}
	if (!batched) {
		struct rst_agg_key key;

		while (n < d->slots && !bpf_map_get_next_key(fd, NULL, &key)) {
			if (bpf_map_lookup_and_delete_elem(fd, &key, &d->values[n]))
				break;
			d->keys[n++] = key;
		}
	}
	/* The programs' own fill counter (direction 0) is no aggregate. */
	for (__u32 i = 0; i < n; i++) {
		if (d->keys[i].direction)
			d->entries[kept++] =
				(struct aggregate_entry){ .value = d->values[i], .key = d->keys[i] };
	}
	return kept;
}

/*
 * Points the programs at the other map, then empties the one they left.
 * Replacing the map-in-map element returns only after every program that
 * could still hold the old map has finished (the kernel's synchronize_rcu for
 * map-in-map updates), so no increment is lost between the read and the delete.
 */
static __u32 drain_aggregates(struct aggregates *d)
{
	struct rst_agg_key key;
	__u32 zero = 0;
	int old = d->fds[d->active];

	if (bpf_map_get_next_key(old, NULL, &key))
		return 0; /* empty: nothing to swap for */
	if (bpf_map_update_elem(d->outer_fd, &zero, &d->fds[!d->active], BPF_ANY)) {
		fprintf(stderr, "note: cannot swap the storm aggregate maps: %s\n", strerror(errno));
		return 0;
	}
	d->active = !d->active;
	return empty_map(d, old);
}

static __u64 percpu_sum(int fd, const void *key, __u64 *values, int ncpu)
{
	__u64 sum = 0;

	if (bpf_map_lookup_elem(fd, key, values))
		return 0;
	for (int i = 0; i < ncpu; i++)
		sum += values[i];
	return sum;
}

static int write_counters(struct rstscope_bpf *skel, int ncpu, struct aggregates *aggs)
{
	int counts_fd = bpf_map__fd(skel->maps.rst_counts);
	int stats_fd = bpf_map__fd(skel->maps.rst_stats);
	static struct count_entry entries[16384];
	struct counters_header *h;
	struct rst_count_key key, next, *prev = NULL;
	__u64 values[ncpu];
	__u32 idx, n = 0, n_aggs;
	size_t len;
	char *buf;
	int err;

	while (n < 16384 && !bpf_map_get_next_key(counts_fd, prev, &next)) {
		entries[n].key = next;
		entries[n].count = percpu_sum(counts_fd, &next, values, ncpu);
		n++;
		key = next;
		prev = &key;
	}
	/* Read after the aggregates are drained: the count then covers them all. */
	n_aggs = drain_aggregates(aggs);
	len = sizeof(*h) + n * sizeof(entries[0]) + n_aggs * sizeof(aggs->entries[0]);
	buf = calloc(1, len);
	if (!buf)
		return -1;
	h = (struct counters_header *)buf;
	idx = RST_STAT_LOST;
	h->lost = percpu_sum(stats_fd, &idx, values, ncpu);
	idx = RST_STAT_COUNT_OVERFLOW;
	h->count_overflow = percpu_sum(stats_fd, &idx, values, ncpu);
	idx = RST_STAT_SELF_RESET;
	h->self_reset = percpu_sum(stats_fd, &idx, values, ncpu);
	idx = RST_STAT_AGGREGATED;
	h->aggregated = percpu_sum(stats_fd, &idx, values, ncpu);
	h->realtime_offset_ns = now_ns(CLOCK_REALTIME) - now_ns(CLOCK_BOOTTIME);
	h->entries = n;
	h->aggregates = n_aggs;
	memcpy(buf + sizeof(*h), entries, n * sizeof(entries[0]));
	memcpy(buf + sizeof(*h) + n * sizeof(entries[0]), aggs->entries,
	       n_aggs * sizeof(aggs->entries[0]));
	err = write_frame(FRAME_COUNTERS, buf, len);
	free(buf);
	return err;
}

static int write_hello(const struct btf *btf, int send_args, int kfree_args, bool reason)
{
	struct utsname u;
	char *json = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&json, &len);
	int err;

	if (!out)
		return -1;
	uname(&u);
	fprintf(out,
		"{\"record_size\":%zu,\"kernel_release\":\"%s\",\"features\":{"
		"\"rst_reason\":%s,\"send_reset_skb\":%s,\"discarded_rst\":%s,"
		"\"discarded_rst_socket\":%s},\"rst_reasons\":",
		sizeof(struct rst_event), u.release, reason ? "true" : "false",
		send_args >= 2 ? "true" : "false", kfree_args >= 3 ? "true" : "false",
		kfree_args >= 4 ? "true" : "false");
	enum_names_json(out, btf, "sk_rst_reason", "SK_RST_REASON_");
	fputs(",\"drop_reasons\":", out);
	enum_names_json(out, btf, "skb_drop_reason", "SKB_DROP_REASON_");
	fputc('}', out);
	fclose(out);
	err = write_frame(FRAME_HELLO, json, len);
	free(json);
	return err;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: rstscope-loader [--netns-inode N]... [--ringbuf-mb N] "
			"[--aggregate-slots N] [--assume-no-reason] [--break-verifier] [--verbose]\n");
	exit(2);
}

/* Optional programs whose tracepoints an older kernel may lack. */
static void disable_if_missing(const struct btf *btf, struct bpf_program *prog, const char *tp)
{
	if (tracepoint_args(btf, tp) < 0) {
		bpf_program__set_autoload(prog, false);
		fprintf(stderr, "note: kernel has no %s tracepoint; that evidence is not recorded\n",
			tp);
	}
}

int main(int argc, char **argv)
{
	__u32 netns[MAX_NETNS];
	int n_netns = 0, ringbuf_mb = 8, aggregate_slots = DEFAULT_AGGREGATE_SLOTS, send_args, recv_args, kfree_args, ncpu, err;
	bool assume_no_reason = false, break_verifier = false, reason;
	struct rstscope_bpf *skel;
	struct aggregates aggs = { 0 };
	struct ring_buffer *rb;
	struct btf *btf;
	__s64 next_counters;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--netns-inode") && i + 1 < argc && n_netns < MAX_NETNS)
			netns[n_netns++] = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--ringbuf-mb") && i + 1 < argc)
			ringbuf_mb = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--aggregate-slots") && i + 1 < argc)
			aggregate_slots = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--assume-no-reason"))
			assume_no_reason = true;
		else if (!strcmp(argv[i], "--break-verifier"))
			break_verifier = true;
		else if (!strcmp(argv[i], "--verbose"))
			verbose = true;
		else
			usage();
	}
	/* The ring buffer's size must be a power of two pages. */
	if (ringbuf_mb < 1 || ringbuf_mb > 1024 || (ringbuf_mb & (ringbuf_mb - 1)))
		usage();
	if (aggregate_slots < 16 || aggregate_slots > MAX_AGGREGATE_SLOTS)
		usage();
	aggs.slots = aggregate_slots;
	aggs.keys = calloc(aggs.slots, sizeof(*aggs.keys));
	aggs.values = calloc(aggs.slots, sizeof(*aggs.values));
	aggs.entries = calloc(aggs.slots, sizeof(*aggs.entries));
	if (!aggs.keys || !aggs.values || !aggs.entries)
		return 4;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	libbpf_set_print(capture_libbpf);

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr, "error: no kernel BTF at /sys/kernel/btf/vmlinux: rstscope needs a "
				"kernel built with CONFIG_DEBUG_INFO_BTF=y (5.12 or later)\n");
		return 3;
	}
	btf = btf__load_vmlinux_btf();
	if (!btf) {
		fprintf(stderr, "error: cannot read kernel BTF: %s\n", strerror(errno));
		return 3;
	}
	send_args = tracepoint_args(btf, "tcp_send_reset");
	recv_args = tracepoint_args(btf, "tcp_receive_reset");
	kfree_args = tracepoint_args(btf, "kfree_skb");
	if (send_args < 1 || recv_args < 1) {
		fprintf(stderr, "error: kernel lacks the tcp_send_reset/tcp_receive_reset "
				"tracepoints with BTF: rstscope needs Linux 5.12 or later\n");
		return 3;
	}
	reason = send_args >= 3 && !assume_no_reason;

	skel = rstscope_bpf__open();
	if (!skel) {
		fprintf(stderr, "error: cannot open the BPF object: %s\n", strerror(errno));
		return 4;
	}
	skel->rodata->has_rst_reason = reason;
	skel->rodata->has_send_reset_skb = send_args >= 2;
	skel->rodata->has_kfree_skb_reason = kfree_args >= 3;
	skel->rodata->has_kfree_skb_rx_sk = kfree_args >= 4;
	skel->rodata->filter_netns = n_netns > 0;
	skel->rodata->break_verifier = break_verifier;
	disable_if_missing(btf, skel->progs.on_sock_send_length, "sock_send_length");
	disable_if_missing(btf, skel->progs.on_sock_recv_length, "sock_recv_length");
	disable_if_missing(btf, skel->progs.on_tcp_probe, "tcp_probe");
	bpf_map__set_max_entries(skel->maps.rst_events, (__u32)ringbuf_mb << 20);
	skel->rodata->aggregate_above_bytes = ((__u64)ringbuf_mb << 20) / 4 * 3;
	/* The outer map's template may keep its size: for hash maps the kernel
	 * compares types, key and value sizes and flags, not max_entries. */
	bpf_map__set_max_entries(skel->maps.rst_aggs_a, aggs.slots);
	bpf_map__set_max_entries(skel->maps.rst_aggs_b, aggs.slots);
	/* One slot is the programs' fill counter. */
	skel->rodata->aggregate_remote_keys = aggs.slots - aggs.slots / 16 - 1;

	err = rstscope_bpf__load(skel);
	if (err) {
		fprintf(stderr, "error: BPF programs failed to load: %s\n", strerror(-err));
		print_log_tail();
		return 4;
	}
	for (int i = 0; i < n_netns; i++) {
		__u8 one = 1;

		bpf_map_update_elem(bpf_map__fd(skel->maps.netns_allowed), &netns[i], &one, BPF_ANY);
	}
	err = rstscope_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "error: cannot attach the BPF programs: %s\n", strerror(-err));
		print_log_tail();
		return 5;
	}
	aggs.outer_fd = bpf_map__fd(skel->maps.rst_aggs);
	aggs.fds[0] = bpf_map__fd(skel->maps.rst_aggs_a);
	aggs.fds[1] = bpf_map__fd(skel->maps.rst_aggs_b);
	rb = ring_buffer__new(bpf_map__fd(skel->maps.rst_events), on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "error: cannot open the ring buffer: %s\n", strerror(errno));
		return 4;
	}
	ncpu = libbpf_num_possible_cpus();
	if (write_hello(btf, send_args, kfree_args, reason))
		return 6;

	next_counters = now_ns(CLOCK_MONOTONIC) + COUNTERS_EVERY_NS;
	while (!stopping) {
		struct pollfd fds[2] = {
			{ .fd = ring_buffer__epoll_fd(rb), .events = POLLIN },
			{ .fd = STDIN_FILENO, .events = POLLIN },
		};
		int n = poll(fds, 2, 100);

		if (n < 0 && errno != EINTR)
			break;
		int drained = ring_buffer__consume(rb);

		if (drained < 0 || flush_batch())
			break;
		/* Records came: let more gather, still answering stdin (a stop, a
		 * counters request) at once. */
		if (drained > 0 && !(fds[1].revents & (POLLIN | POLLHUP)) &&
		    poll(&fds[1], 1, DRAIN_PAUSE_MS) < 0 && errno != EINTR)
			break;
		if (fds[1].revents & (POLLIN | POLLHUP)) {
			char cmd[64];
			ssize_t got = read(STDIN_FILENO, cmd, sizeof(cmd));

			if (got <= 0)
				break;
			if (memchr(cmd, 'c', got) && write_counters(skel, ncpu, &aggs))
				break;
		}
		if (now_ns(CLOCK_MONOTONIC) >= next_counters) {
			if (write_counters(skel, ncpu, &aggs))
				break;
			next_counters += COUNTERS_EVERY_NS;
		}
	}
	/* Detach first: a reset counted after the last drain would be in the final
	 * counts without its record, a loss nobody counted. Then hand over what is
	 * still in the ring buffer, then the final counts with the last aggregates
	 * (only the active map holds any: each drain empties the other). */
	rstscope_bpf__detach(skel);
	/* Detaching does not wait for programs already running on other CPUs: one
	 * may have counted its reset and not yet submitted the record (seen one more
	 * than decoded, in a storm at stop). They run for microseconds; give them a
	 * few milliseconds to finish before the last drain. */
	nanosleep(&(struct timespec){ .tv_nsec = IN_FLIGHT_WAIT_NS }, NULL);
	ring_buffer__consume(rb);
	err = flush_batch() || write_counters(skel, ncpu, &aggs);
	ring_buffer__free(rb);
	rstscope_bpf__destroy(skel);
	btf__free(btf);
	return err ? 6 : 0;
}
