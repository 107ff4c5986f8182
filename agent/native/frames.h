/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Frames the loader writes to its stdout, read by agent/loader-frames.ts.
 * Host byte order. Each frame: struct frame_header, then len bytes.
 */
#ifndef RSTSCOPE_FRAMES_H
#define RSTSCOPE_FRAMES_H

#include <linux/types.h>

enum frame_type {
	FRAME_HELLO = 1,    /* JSON: kernel, features, enum names */
	FRAME_BATCH = 2,    /* struct batch_header, then N struct rst_event */
	/* struct counters_header, then `entries` struct count_entry, then
	 * `aggregates` struct aggregate_entry: the storm aggregates drained since
	 * the previous counters frame. One frame, so the counts and the sums
	 * drained with them arrive together (and through the one handler the
	 * agent already has). */
	FRAME_COUNTERS = 3,
};

struct frame_header {
	__u32 type;
	__u32 len;
};

struct batch_header {
	/* CLOCK_REALTIME - CLOCK_BOOTTIME when the batch was written: turns the
	 * kernel's ts_boot_ns into wall-clock time, following NTP steps. */
	__s64 realtime_offset_ns;
};

struct counters_header {
	__u64 lost;           /* RST_STAT_LOST */
	__u64 count_overflow; /* RST_STAT_COUNT_OVERFLOW */
	__u64 self_reset;     /* RST_STAT_SELF_RESET */
	__u64 aggregated;     /* RST_STAT_AGGREGATED */
	/* CLOCK_REALTIME - CLOCK_BOOTTIME: turns the aggregates' times into wall-clock. */
	__s64 realtime_offset_ns;
	__u32 entries;
	__u32 aggregates;
};

struct count_entry {
	struct rst_count_key key;
	__u64 count;
};

struct aggregate_entry {
	struct rst_agg value;
	struct rst_agg_key key;
	__u32 __pad;
};

#endif /* RSTSCOPE_FRAMES_H */
