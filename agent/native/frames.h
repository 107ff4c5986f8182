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
	FRAME_COUNTERS = 3, /* struct counters_header, then N struct count_entry */
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
	__u32 entries;
	__u32 __pad;
};

struct count_entry {
	struct rst_count_key key;
	__u64 count;
};

#endif /* RSTSCOPE_FRAMES_H */
