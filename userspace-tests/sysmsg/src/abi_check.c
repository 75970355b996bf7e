// SPDX-License-Identifier: GPL-2.0
/*
 * The ABI as a C compiler sees it, linked into the library's unit tests so
 * that every ioctl number, constant, structure size and field offset the Rust
 * side uses is checked against the header's own macros and layout.
 *
 * sysmsg_c_abi[] is a table of (name, value) pairs ending with a NULL name;
 * the Rust test (src/abi.rs) builds the same table from the bindgen types and
 * its own ioctl encoding, and both must match entry for entry.
 */
#include <linux/sysmsg.h>
#include <linux/time_types.h>
#include <stddef.h>

struct sysmsg_c_abi_entry {
	const char *name;
	unsigned long long value;
};

#define VALUE(x) { #x, (unsigned long long)(x) }
#define SIZE(s) { "sizeof " #s, sizeof(struct s) }
#define ALIGN(s) { "alignof " #s, _Alignof(struct s) }
#define OFFSET(s, f) { #s "." #f, offsetof(struct s, f) }
#define FIELD_SIZE(s, f) { "sizeof " #s "." #f, sizeof(((struct s *)0)->f) }
#define FIELD(s, f) OFFSET(s, f), FIELD_SIZE(s, f)

const struct sysmsg_c_abi_entry sysmsg_c_abi[] = {
	/* ioctls */
	VALUE(SYSMSG_IOC_GET_INFO),
	VALUE(SYSMSG_IOC_SUBMIT),
	VALUE(SYSMSG_IOC_REAP),
	VALUE(SYSMSG_IOC_GET_LIMITS),
	VALUE(SYSMSG_IOC_SET_LIMITS),
	VALUE(SYSMSG_IOC_PROC_STATS),
	VALUE(SYSMSG_IOC_CANCEL),
	VALUE(SYSMSG_IOC_MAGIC),
	VALUE(SYSMSG_IOC_NR_BASE),
	VALUE(SYSMSG_IOC_NR_GET_INFO),
	VALUE(SYSMSG_IOC_NR_SUBMIT),
	VALUE(SYSMSG_IOC_NR_REAP),
	VALUE(SYSMSG_IOC_NR_GET_LIMITS),
	VALUE(SYSMSG_IOC_NR_SET_LIMITS),
	VALUE(SYSMSG_IOC_NR_PROC_STATS),
	VALUE(SYSMSG_IOC_NR_CANCEL),
	/* constants */
	VALUE(SYSMSG_ABI_VERSION),
	VALUE(SYSMSG_OP_NOP),
	VALUE(SYSMSG_OP_NANOSLEEP),
	VALUE(SYSMSG_OP_READ),
	VALUE(SYSMSG_OP_WRITE),
	VALUE(SYSMSG_OP_PREAD),
	VALUE(SYSMSG_OP_PWRITE),
	VALUE(SYSMSG_OP_FSYNC),
	VALUE(SYSMSG_OP_FDATASYNC),
	VALUE(SYSMSG_OP_COUNT),
	VALUE(SYSMSG_SLEEP_ABSTIME),
	VALUE(SYSMSG_MAX_IO_LEN),
	VALUE(SYSMSG_FEATURE_POLL_ARM),
	VALUE(SYSMSG_FEATURE_LIMITS),
	VALUE(SYSMSG_FEATURE_CANCEL),
	VALUE(SYSMSG_FEATURE_PRIO),
	VALUE(SYSMSG_FEATURE_SUBMIT_REAP),
	VALUE(SYSMSG_PRIO_MIN),
	VALUE(SYSMSG_PRIO_MAX),
	VALUE(SYSMSG_FEATURES_ALL),
	VALUE(SYSMSG_REAP_NOWAIT),
	VALUE(SYSMSG_SUBMIT_WAIT),
	VALUE(SYSMSG_SUBMIT_REAP),
	VALUE(SYSMSG_SUBMIT_REAP_WAIT),
	VALUE(SYSMSG_LIMIT_SOFT),
	VALUE(SYSMSG_LIMIT_HARD),
	VALUE(SYSMSG_PROC_THROTTLED),
	VALUE(SYSMSG_CANCEL_ALL),
	/* struct sysmsg_msg */
	SIZE(sysmsg_msg),
	ALIGN(sysmsg_msg),
	FIELD(sysmsg_msg, opcode),
	FIELD(sysmsg_msg, flags),
	FIELD(sysmsg_msg, prio),
	FIELD(sysmsg_msg, reserved0),
	FIELD(sysmsg_msg, fd),
	FIELD(sysmsg_msg, tag),
	FIELD(sysmsg_msg, addr),
	FIELD(sysmsg_msg, len),
	FIELD(sysmsg_msg, offset),
	FIELD(sysmsg_msg, op_flags),
	FIELD(sysmsg_msg, reserved1),
	FIELD(sysmsg_msg, reserved),
	/* struct sysmsg_reply */
	SIZE(sysmsg_reply),
	ALIGN(sysmsg_reply),
	FIELD(sysmsg_reply, tag),
	FIELD(sysmsg_reply, result),
	FIELD(sysmsg_reply, opcode),
	FIELD(sysmsg_reply, reserved0),
	FIELD(sysmsg_reply, reserved1),
	FIELD(sysmsg_reply, reserved2),
	/* struct sysmsg_info */
	SIZE(sysmsg_info),
	ALIGN(sysmsg_info),
	FIELD(sysmsg_info, abi_version),
	FIELD(sysmsg_info, info_size),
	FIELD(sysmsg_info, features),
	FIELD(sysmsg_info, ops),
	FIELD(sysmsg_info, msg_size),
	FIELD(sysmsg_info, reply_size),
	FIELD(sysmsg_info, max_io_len),
	FIELD(sysmsg_info, queue_limit),
	FIELD(sysmsg_info, reserved),
	/* struct sysmsg_submit */
	SIZE(sysmsg_submit),
	ALIGN(sysmsg_submit),
	FIELD(sysmsg_submit, msgs),
	FIELD(sysmsg_submit, count),
	FIELD(sysmsg_submit, flags),
	FIELD(sysmsg_submit, accepted),
	FIELD(sysmsg_submit, error),
	FIELD(sysmsg_submit, replies),
	FIELD(sysmsg_submit, reap_max),
	FIELD(sysmsg_submit, reaped),
	/* struct sysmsg_reap */
	SIZE(sysmsg_reap),
	ALIGN(sysmsg_reap),
	FIELD(sysmsg_reap, replies),
	FIELD(sysmsg_reap, max),
	FIELD(sysmsg_reap, flags),
	FIELD(sysmsg_reap, count),
	FIELD(sysmsg_reap, reserved0),
	FIELD(sysmsg_reap, reserved),
	/* struct sysmsg_limits */
	SIZE(sysmsg_limits),
	ALIGN(sysmsg_limits),
	FIELD(sysmsg_limits, pid),
	FIELD(sysmsg_limits, flags),
	FIELD(sysmsg_limits, soft),
	FIELD(sysmsg_limits, hard),
	FIELD(sysmsg_limits, reserved),
	/* struct sysmsg_proc_stats */
	SIZE(sysmsg_proc_stats),
	ALIGN(sysmsg_proc_stats),
	FIELD(sysmsg_proc_stats, pid),
	FIELD(sysmsg_proc_stats, flags),
	FIELD(sysmsg_proc_stats, inflight),
	FIELD(sysmsg_proc_stats, soft),
	FIELD(sysmsg_proc_stats, hard),
	FIELD(sysmsg_proc_stats, peak_inflight),
	FIELD(sysmsg_proc_stats, limit_hits),
	FIELD(sysmsg_proc_stats, throttle_episodes),
	FIELD(sysmsg_proc_stats, submitted),
	FIELD(sysmsg_proc_stats, reserved),
	/* struct sysmsg_stats */
	SIZE(sysmsg_stats),
	ALIGN(sysmsg_stats),
	FIELD(sysmsg_stats, procs),
	FIELD(sysmsg_stats, max),
	FIELD(sysmsg_stats, count),
	FIELD(sysmsg_stats, total),
	FIELD(sysmsg_stats, reserved0),
	FIELD(sysmsg_stats, reserved),
	/* struct sysmsg_cancel */
	SIZE(sysmsg_cancel),
	ALIGN(sysmsg_cancel),
	FIELD(sysmsg_cancel, tag),
	FIELD(sysmsg_cancel, flags),
	FIELD(sysmsg_cancel, cancelled),
	FIELD(sysmsg_cancel, already),
	FIELD(sysmsg_cancel, reserved),
	/* struct __kernel_timespec (NANOSLEEP's argument) */
	SIZE(__kernel_timespec),
	ALIGN(__kernel_timespec),
	FIELD(__kernel_timespec, tv_sec),
	FIELD(__kernel_timespec, tv_nsec),
	{ NULL, 0 },
};
